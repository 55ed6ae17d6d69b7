"""Lambda: the status syncer — the events and status queues, and the sweeper's schedule."""

from codeloop.observability import lambda_entry
from codeloop.services import snapstart
from codeloop.services.syncer import SWEEPER_SOURCE, handle_record
from codeloop.services.tasks.steps import sqs_batch_by_group

# A batch holds at most 10 messages: each of its message groups is worked on at once.
GROUPS_AT_ONCE = 10
snapstart.register(("codeloop.services.intake.events",), ("sqs", "stepfunctions"))


@lambda_entry
def lambda_handler(event, context):
    if event.get("source") == SWEEPER_SOURCE:
        from codeloop.services.sweeper import sweep

        return sweep()
    return sqs_batch_by_group(event, handle_record, GROUPS_AT_ONCE)
