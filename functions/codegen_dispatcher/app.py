"""Lambda: codegen_dispatcher, the DispatchCodegen worker (codegen queue)."""

from codeloop.observability import metrics
from codeloop.services.dispatch import dispatch_codegen_step
from codeloop.workers import handle_batch


@metrics.log_metrics
def lambda_handler(event, context):
    return handle_batch(event, context, dispatch_codegen_step)
