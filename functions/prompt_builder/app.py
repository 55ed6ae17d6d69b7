"""Lambda: prompt_builder — BuildPrompt and BuildFixPrompt messages from the prompt queue."""

from codeloop.observability import lambda_entry
from codeloop.services.prompt_builder import build_prompt_step
from codeloop.workers import handle_batch


@lambda_entry
def lambda_handler(event, context):
    return handle_batch(event, context, build_prompt_step)
