"""The status syncer: the events queue (webhooks), the status queue (the workflow's notes and the
validation runner's reports), the validation queue (ValidatePR, prepared here), and the
sweeper's schedule. It is the only writer of codeloop's check runs and PR comment, and it
renders both from the task's state in PostgreSQL each time, so duplicates and reordering converge.
"""

from __future__ import annotations

import json
from typing import Any

from codeloop.db import store
from codeloop.db.pool import transaction
from codeloop.domain.lifecycle import ALLOWED, TaskStatus
from codeloop.domain.publish_retry import note_channel
from codeloop.domain.validation_request import REPORT_EVENT, ValidationResult
from codeloop.observability import bind, logger, metrics

SWEEPER_SOURCE = "codeloop.sweeper"


def handle_record(body: str) -> None:
    """One message of any of its queues."""
    try:
        message = json.loads(body)
    except ValueError:
        logger.error("unreadable message dropped", extra={"body": body[:200]})
        return
    if isinstance(message, dict) and "delivery_id" in message:
        from codeloop.domain.delivery_log import ReplayRequest
        from codeloop.services.intake.events import process_delivery

        replay = ReplayRequest.model_validate(message["replay"]) if message.get("replay") else None
        process_delivery(str(message["delivery_id"]), replay)
    elif isinstance(message, dict) and message.get("step") == "ValidatePR" and "task_token" in message:
        from codeloop.services.tasks.steps import run_step
        from codeloop.services.validation.step import prepare_validation_step

        run_step(body, prepare_validation_step)
    elif isinstance(message, dict) and message.get("event") == REPORT_EVENT:
        from codeloop.services.validation.step import finish_validation

        finish_validation(ValidationResult.model_validate(message))
    elif isinstance(message, dict) and "task_id" in message and "event" in message:
        on_status(message)
    elif isinstance(message, dict) and "batch_id" in message and "event" in message:
        on_batch_note(message)
    else:
        logger.error("message of unknown shape dropped", extra={"body": body[:200]})


def on_status(message: dict[str, Any]) -> None:
    """A note from the workflow: bring the task's status in step, then re-render what GitHub shows."""
    task_id = str(message["task_id"])
    bind(correlation_id=message.get("execution_name") or task_id, task_id=task_id)
    event = message["event"]
    if event == "batch_item":
        from codeloop.services.tasks.actions import on_batch_item

        on_batch_item(task_id, str(message["task_token"]))
        return
    channel = note_channel(message)
    if channel is not None:
        from codeloop.services.reporting.publisher import publish_after_wait

        publish_after_wait(task_id, channel)
        return
    if event == "workflow_succeeded":
        _finish(task_id, message, TaskStatus.COMPLETED, "succeeded", None)
        metrics.add_metric(name="TaskCompleted", unit="Count", value=1)
        from codeloop.services.reporting.auto_merge import merge_if_configured

        merge_if_configured(task_id)
    elif event == "workflow_failed":
        reason = _failure_reason(message.get("error") or {}, task_id)
        _finish(task_id, message, TaskStatus.FAILED, "failed", reason)
        metrics.add_metric(name="TaskFailed", unit="Count", value=1)
    publish(task_id)


def on_batch_note(message: dict[str, Any]) -> None:
    """The batch machine's last word: finished (within its failure tolerance) or failed."""
    bind(correlation_id=message.get("execution_name") or str(message["batch_id"]))
    if message["event"] == "batch_failed":
        logger.warning("batch failed", extra={"batch_id": message["batch_id"], "error": message.get("error")})
    else:
        logger.info("batch finished", extra={"batch_id": message["batch_id"]})
    metrics.add_metric(
        name="BatchFailed" if message["event"] == "batch_failed" else "BatchFinished", unit="Count", value=1
    )


def _failure_reason(error: Any, task_id: str) -> str:
    """The workflow's error and cause; without a cause, what the failed step recorded in the ledger."""
    if not isinstance(error, dict):
        return str(error)
    name, cause = error.get("Error") or "Failed", error.get("Cause") or ""
    if cause:
        return f"{name}: {cause}"
    with transaction() as conn:
        steps = [step for execution in store.task_history(conn, task_id) for step in execution.steps]
    failed = [step.error for step in steps if step.status == "failed" and step.error]
    return failed[-1] if failed and failed[-1].startswith(name) else name


def _finish(
    task_id: str, message: dict[str, Any], target: TaskStatus, execution_status: str, error: str | None
) -> None:
    from codeloop.services.tasks.actions import answer_batch

    with transaction(actor="workflow", correlation_id=message.get("execution_name")) as conn:
        task = store.require_task(conn, task_id)
        if message.get("execution_name") and store.execution_by_name(conn, message["execution_name"]):
            store.finish_execution(conn, message["execution_name"], execution_status, error)
        if task.status != target and target in ALLOWED[task.status]:
            task = store.transition_task(conn, task.id, target, step="workflow", error=error)
    answer_batch(task)


def publish(task_id: str) -> None:
    """Render the task's check run and its one comment from PostgreSQL and write them to GitHub."""
    from codeloop.services.reporting.publisher import publish_task

    publish_task(task_id)
