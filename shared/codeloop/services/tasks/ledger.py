"""The workflow ledger: every step's start and end in PostgreSQL, the task's status kept in step,
and a note on the status queue so the status syncer re-renders what GitHub shows."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from codeloop.db import store
from codeloop.db.pool import transaction
from codeloop.domain.lifecycle import ALLOWED, TaskStatus, is_terminal
from codeloop.observability import logger
from codeloop.settings import get_settings

if TYPE_CHECKING:
    from codeloop.domain.steps import StepMessage

# The task status each workflow step stands for.
STEP_STATUS = {
    "BuildPrompt": TaskStatus.PROMPTING,
    "BuildFixPrompt": TaskStatus.PROMPTING,
    "DispatchCodegen": TaskStatus.GENERATING,
    "ValidatePR": TaskStatus.VALIDATING,
}


class TaskNotRunning(Exception):
    """The task was cancelled or finished while a step's message was in flight."""


def announce(task_id: str, event: str, **details: Any) -> None:
    """Tell the status syncer that a task changed (FIFO: one group per task, so it sees changes in order)."""
    from codeloop.adapters import queues

    queue = get_settings().status_queue_url
    if not queue:
        logger.debug("no status queue configured; nothing announced")
        return
    queues.send(
        queue,
        {"event": event, "task_id": task_id, **details},
        group_id=task_id,
        dedup_id=uuid.uuid4().hex,
    )


def step_started(message: StepMessage) -> None:
    """Record the step and move the task to the status it stands for; refuse a task that stopped."""
    with transaction(actor="workflow", correlation_id=message.execution_name) as conn:
        task = store.require_task(conn, message.task_id)
        if is_terminal(task.status):
            raise TaskNotRunning(f"task {task.id} is {task.status}")
        target = STEP_STATUS.get(message.step)
        if target is not None and task.status != target and target in ALLOWED[task.status]:
            store.transition_task(conn, task.id, target)
        if message.attempt > task.attempt:  # the workflow moved on to a fix attempt
            store.update_task(conn, task.id, attempt=message.attempt)
        store.start_step(conn, message.execution_name, message.step, message.attempt, message.task_token)
    announce(message.task_id, "step_started", step=message.step, attempt=message.attempt)


def step_finished(
    execution_name: str, task_id: str, step: str, attempt: int, status: str, error: str | None = None
) -> None:
    with transaction(actor="workflow", correlation_id=execution_name) as conn:
        store.finish_step(conn, execution_name, step, attempt, status, error)
    announce(task_id, "step_finished", step=step, attempt=attempt, status=status)
