"""Lambda: codegen_dispatcher (not implemented yet: it fails loudly rather than pretend to work)."""


def lambda_handler(event, context):
    raise NotImplementedError("codegen_dispatcher is not implemented yet")
