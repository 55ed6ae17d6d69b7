"""Lambda: the HTTP front — GitHub webhooks (POST /webhooks/github), the task API and /health."""

from codeloop.api.front import handle
from codeloop.observability import lambda_entry


@lambda_entry
def lambda_handler(event, context):
    return handle(event, context)
