"""The one shape of every workflow worker: an SQS batch whose messages carry a Step Functions task token.

Each message is a :class:`StepMessage`. The worker's ``step`` function does the job and returns
the step's output (ids, not documents). Then:

- success → SendTaskSuccess with the output; the ledger records the step as succeeded;
- :class:`StepFailed` (a final, classified failure) → SendTaskFailure; the workflow's Catch
  routes it to RecordFailure; the message is done;
- :class:`StepPending` → nothing is answered yet: the token is stored and the wait ends later
  (the agent's pull request, the repository's CI); the message is done;
- any other exception is transient → the record is reported as a batch item failure, SQS
  delivers it again after the visibility timeout, and after a few receives it goes to the
  dead-letter queue while the workflow's step timeout ends the wait visibly.

Every transition is written to the workflow ledger and announced on the status queue, so the
status syncer re-renders the check run and the PR comment.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from codeloop.domain.steps import DeliverLater, StepFailed, StepMessage, StepPending
from codeloop.observability import bind, forget_bound_keys, logger, metrics

if TYPE_CHECKING:  # imported when a batch first has several groups, not on the function's cold start
    from concurrent.futures import ThreadPoolExecutor

Step = Callable[[StepMessage], dict[str, Any]]


def handle_batch(event: dict[str, Any], context: Any, step: Step) -> dict[str, Any]:
    """A workflow worker's SQS event: each record is one step message."""
    return sqs_batch(event, context, lambda body: run_step(body, step))


def sqs_batch(event: dict[str, Any], context: Any, handle_body: Callable[[str], None]) -> dict[str, Any]:
    """Process an SQS event with partial batch failure reporting (Powertools BatchProcessor).

    A record whose handler raises is reported in ``batchItemFailures``: SQS delivers it again,
    and after a few receives moves it to the dead-letter queue. The others are done.
    """
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    def handle_record(record: Any) -> None:
        forget_bound_keys()  # each message logs its own ids, none of the previous message's
        handle_body(record.body)

    processor = BatchProcessor(event_type=EventType.SQS)
    return process_partial_response(
        event=event,
        record_handler=handle_record,
        processor=processor,
        context=context,
    )


def sqs_batch_by_group(
    event: dict[str, Any], handle_body: Callable[[str], None], groups_at_once: int
) -> dict[str, Any]:
    """Process an SQS event's message groups side by side, each group's messages in order.

    FIFO orders messages within a group only, so a burst spread over many pull requests and issues
    need not wait for one slow GitHub call at a time (a standard queue's messages are groups of
    one). When a message fails, it and the rest of its group are reported in ``batchItemFailures``
    (SQS delivers them again, in order); the other groups are done. A message whose work raises
    :class:`DeliverLater` is hidden for the seconds it asks first, so it comes back only then.
    A batch of one group runs in the calling thread; several share the process's group workers.
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for record in event.get("Records", []):
        group = (record.get("attributes") or {}).get("MessageGroupId") or record["messageId"]
        groups.setdefault(group, []).append(record)

    def run_group(records: list[dict[str, Any]]) -> list[str]:
        for index, record in enumerate(records):
            forget_bound_keys()  # each message logs its own ids, none of the previous message's
            try:
                handle_body(record["body"])
            except DeliverLater as wait:
                _hand_back(record, wait)
                return [later["messageId"] for later in records[index:]]
            except Exception:
                logger.exception("message failed; it and the rest of its group will be received again")
                return [later["messageId"] for later in records[index:]]
        return []

    if len(groups) <= 1:
        try:
            failed = [message_id for records in groups.values() for message_id in run_group(records)]
        finally:
            forget_bound_keys()  # the caller's later lines carry none of the last message's ids
    else:
        pool = _group_workers(max(1, groups_at_once))
        failed = [message_id for ids in pool.map(run_group, groups.values()) for message_id in ids]
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}


_workers = threading.local()


def _group_workers(size: int) -> ThreadPoolExecutor:
    """The threads the calling thread works message groups on, made as first needed and kept for
    its later batches (and warm invocations): starting a batch's own threads cost ~0.5 ms each.
    One pool per calling thread, as each batch had its own: the local stack's pollers share a
    process, and one poller's slow group must not hold up another's batch past its visibility."""
    from concurrent.futures import ThreadPoolExecutor

    pools: dict[int, ThreadPoolExecutor] = _workers.__dict__.setdefault("pools", {})
    if size not in pools:
        pools[size] = ThreadPoolExecutor(max_workers=size, thread_name_prefix="codeloop-group")
    return pools[size]


def _hand_back(record: dict[str, Any], wait: DeliverLater) -> None:
    """Hide the message until its wait is over. Should SQS refuse, it comes back after the queue's
    visibility timeout instead: later than asked, never lost."""
    from codeloop.adapters import queues

    try:
        seconds = queues.hand_back_later(record["eventSourceARN"], record["receiptHandle"], wait.seconds)
    except Exception:
        logger.exception("message not hidden; it comes back after the queue's visibility timeout")
        return
    logger.info("message handed back for later", extra={"reason": str(wait), "seconds": seconds})


def run_step(body: str, step: Step) -> None:
    from codeloop.services.tasks import ledger

    message = StepMessage.model_validate_json(body)
    bind(correlation_id=message.task_id, task_id=message.task_id, step=message.step, attempt=message.attempt)
    try:
        ledger.step_started(message)
    except ledger.TaskNotRunning as stopped:
        logger.info("task no longer running; step skipped", extra={"reason": str(stopped)})
        return
    answer_step(message, step)


def answer_step(message: StepMessage, step: Step) -> None:
    """Run ``step`` and answer the message's task token with its outcome (or leave it pending)."""
    from codeloop.adapters import workflows

    try:
        output = step(message)
    except StepPending:
        logger.info("step waiting")
        return
    except StepFailed as failed:
        logger.warning("step failed", extra={"error": failed.error, "cause": failed.cause})
        workflows.send_failure(message.task_token, failed.error, failed.cause)
        finish(message, "failed", f"{failed.error}: {failed.cause}")
        metrics.add_metric(name=f"{message.step}Failed", unit="Count", value=1)
        return
    workflows.send_success(message.task_token, output)
    finish(message, "succeeded")
    metrics.add_metric(name=f"{message.step}Succeeded", unit="Count", value=1)


def finish(message: StepMessage, status: str, error: str | None = None) -> None:
    from codeloop.services.tasks import ledger

    ledger.step_finished(
        message.execution_name, message.task_id, message.step, message.attempt, status, error
    )
