"""Lambda: the HTTP front — GitHub webhooks (POST /webhooks/github), the task API and /health."""

from codeloop.api.front import FIRST_DELIVERY_CLIENTS, FIRST_DELIVERY_MODULES, handle
from codeloop.observability import lambda_entry
from codeloop.services import snapstart

snapstart.register(FIRST_DELIVERY_MODULES, FIRST_DELIVERY_CLIENTS)


@lambda_entry
def lambda_handler(event, context):
    return handle(event, context)
