"""Lambda: codegen_dispatcher, the DispatchCodegen worker (codegen queue)."""

from codeloop.observability import lambda_entry
from codeloop.services.agents.dispatch import dispatch_codegen_step
from codeloop.services.tasks.steps import handle_batch


@lambda_entry
def lambda_handler(event, context):
    return handle_batch(event, context, dispatch_codegen_step)
