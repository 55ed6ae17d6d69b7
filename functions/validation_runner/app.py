"""Lambda: validation_runner, the ValidatePR worker (validation queue).

Runs the repository's setup and test commands on the pull request's head within the Lambda's
remaining time, heartbeating while they run; see codeloop.services.validation_step.
"""

from functools import partial

from codeloop.observability import lambda_entry
from codeloop.services.validation_step import validate_pr_step
from codeloop.workers import handle_batch


@lambda_entry
def lambda_handler(event, context):
    clock = getattr(context, "get_remaining_time_in_millis", None)
    return handle_batch(event, context, partial(validate_pr_step, remaining_millis=clock))
