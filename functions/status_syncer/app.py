"""Lambda: status_syncer (not implemented yet: it fails loudly rather than pretend to work)."""


def lambda_handler(event, context):
    raise NotImplementedError("status_syncer is not implemented yet")
