"""Lambda: prompt_builder (not implemented yet: it fails loudly rather than pretend to work)."""


def lambda_handler(event, context):
    raise NotImplementedError("prompt_builder is not implemented yet")
