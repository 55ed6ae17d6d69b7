"""Lambda: codegen_dispatcher, the DispatchCodegen worker (codegen queue)."""

from codeloop.observability import lambda_entry
from codeloop.services import snapstart
from codeloop.services.agents.dispatch import dispatch_codegen_step
from codeloop.services.tasks.steps import handle_batch

snapstart.register(clients=("sqs", "stepfunctions"))


@lambda_entry
def lambda_handler(event, context):
    return handle_batch(event, context, dispatch_codegen_step)
