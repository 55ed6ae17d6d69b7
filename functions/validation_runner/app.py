"""Lambda: validation_runner (not implemented yet: it fails loudly rather than pretend to work)."""


def lambda_handler(event, context):
    raise NotImplementedError("validation_runner is not implemented yet")
