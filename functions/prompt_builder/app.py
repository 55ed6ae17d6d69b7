"""Lambda: prompt_builder — BuildPrompt and BuildFixPrompt messages from the prompt queue."""

from codeloop.observability import lambda_entry
from codeloop.services import snapstart
from codeloop.services.prompting.builder import build_prompt_step
from codeloop.services.tasks.steps import handle_batch

snapstart.register(clients=("sqs", "stepfunctions"))


@lambda_entry
def lambda_handler(event, context):
    return handle_batch(event, context, build_prompt_step)
