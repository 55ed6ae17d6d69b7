"""Lambda: validation_runner — runs one prepared validation and reports back.

It receives a self-contained request (``codeloop.domain.validation_request``) from the status
syncer: on AWS by a direct asynchronous invoke (tenant = installation), locally as the runner
queue's SQS batch. It holds no database access and no secret; its report goes to the status
queue. On Lambda the process claims every orphan of the commands, so whatever escaped a
command's supervisor is killed before the next checkout; see codeloop.services.validation.runner.
"""

import os

from codeloop.adapters import sandbox
from codeloop.domain.validation_request import ValidationRequest
from codeloop.observability import lambda_entry
from codeloop.services.tasks.steps import sqs_batch
from codeloop.services.validation.runner import run_request

if os.environ.get("AWS_LAMBDA_RUNTIME_API"):  # a process of its own: nothing else runs below it
    sandbox.claim_runner_process()


@lambda_entry
def lambda_handler(event, context):
    clock = getattr(context, "get_remaining_time_in_millis", None)
    if "Records" in event:  # the local stack's runner queue
        return sqs_batch(
            event, context, lambda body: run_request(ValidationRequest.model_validate_json(body), clock)
        )
    run_request(ValidationRequest.model_validate(event), clock)
    return {"reported": True}
