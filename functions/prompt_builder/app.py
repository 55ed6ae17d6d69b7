"""Lambda: prompt_builder — BuildPrompt and BuildFixPrompt messages from the prompt queue."""

from codeloop.observability import metrics
from codeloop.services.prompt_builder import build_prompt_step
from codeloop.workers import handle_batch


@metrics.log_metrics
def lambda_handler(event, context):
    return handle_batch(event, context, build_prompt_step)
