"""Task use cases shared by the task API, slash-commands and the sweeper: start, retry, cancel, show.

A task's status is committed before its workflow starts, and the workflow's name is the task id
plus the attempt, so a start that fails half-way is simply started again (by the sweeper) and a
repeated start is harmless.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

from psycopg import Connection
from pydantic import BaseModel

from codeloop.adapters import workflows
from codeloop.db import costs_store, store
from codeloop.db.pool import transaction
from codeloop.domain.lifecycle import TaskStatus, is_terminal
from codeloop.domain.models import NewTask, Priority, Task, TaskSource
from codeloop.observability import logger, metrics
from codeloop.settings import get_settings


class TaskConflict(RuntimeError):
    """The task's state does not allow what was asked (e.g. cancelling a finished task)."""


def create_and_start(
    new: NewTask,
    *,
    actor: str,
    correlation_id: str | None = None,
    on_created: Callable[[Connection, Task], None] | None = None,
) -> Task:
    """Create a task and start its workflow; a request seen before returns the task it made.

    ``on_created`` records what belongs with a new task (e.g. its Linear issue) in the same
    transaction, so nothing publishes the task without it."""
    with transaction(actor=actor, correlation_id=correlation_id) as conn:
        task = store.create_task(conn, new)
        if task.status != TaskStatus.PENDING:
            return task
        if on_created is not None:
            on_created(conn, task)
        task = _queue(conn, task)
    metrics.add_metric(name="TaskCreated", unit="Count", value=1)
    return launch(task)


def _queue(conn: Connection, task: Task) -> Task:
    """Move a task to 'queued' for its next attempt (committed by the caller's transaction)."""
    task = store.transition_task(conn, task.id, TaskStatus.QUEUED)
    return store.update_task(conn, task.id, attempt=task.attempt + 1)


def workflow_input(task: Task, iterations: int, *, validate_only: bool = False) -> dict[str, Any]:
    if validate_only:  # straight to ValidatePR with the task's pull request; no fix attempts
        pull_request = {"run_id": None, "pr_number": task.pr_number, "head_sha": task.head_sha}
        return {"task_id": str(task.id), "attempt": task.attempt, "max_attempts": task.attempt,
                "codegen": pull_request, "validate_only": True}  # fmt: skip
    return {"task_id": str(task.id), "attempt": task.attempt, "max_attempts": task.attempt + iterations}


def launch(task: Task, *, validate_only: bool = False) -> Task:
    """Start the task's workflow execution for its current attempt and record it."""
    with transaction() as conn:
        repository = store.get_repository(conn, task.repository_id)
    iterations = repository.iteration_budget if repository else 3
    name = workflows.execution_name(task.id, task.attempt)
    arn = workflows.start_execution(
        get_settings().require("state_machine_arn"),
        name,
        workflow_input(task, iterations, validate_only=validate_only),
    )
    with transaction() as conn:
        store.start_execution(conn, task.id, name, arn)
        task = store.update_task(conn, task.id, workflow_execution_arn=arn)
    logger.info("workflow started", extra={"task_id": str(task.id), "execution": name})
    return task


def retry(task_id: UUID | str, *, actor: str) -> Task:
    """Start a failed or cancelled task over, as a new attempt."""
    with transaction(actor=actor) as conn:
        task = store.require_task(conn, task_id)
        if task.status not in (TaskStatus.FAILED, TaskStatus.CANCELLED):
            raise TaskConflict(
                f"task {task.id} is {task.status}: only a failed or cancelled task can be retried"
            )
        task = _queue(conn, task)
        task = store.update_task(conn, task.id, retry_count=task.retry_count + 1)
    return launch(task)


def cancel(task_id: UUID | str, *, actor: str, reason: str = "cancelled") -> Task:
    """Cancel a task that is still running; its workflow execution is stopped."""
    with transaction(actor=actor) as conn:
        task = store.require_task(conn, task_id)
        if is_terminal(task.status):
            raise TaskConflict(f"task {task.id} is already {task.status}")
        task = store.transition_task(conn, task.id, TaskStatus.CANCELLED, step="cancel", error=reason)
        tokens = store.waiting_step_tokens(conn, task.id)
    end_workflow(task, reason, tokens)
    return task


def end_workflow(task: Task, reason: str, waiting_tokens: list[str]) -> None:
    """Stop the task's execution, and end any step wait it is in (a token nobody will answer)."""
    if task.workflow_execution_arn:
        workflows.stop_execution(task.workflow_execution_arn, reason)
    for token in waiting_tokens:
        workflows.fail_waiting_step(token, "Cancelled", reason)
    answer_batch(task)


# -- batches -------------------------------------------------------------------------------------

PRIORITY_ORDER = (Priority.CRITICAL, Priority.HIGH, Priority.MEDIUM, Priority.LOW)


class Batch(BaseModel):
    batch_id: UUID
    execution_arn: str
    tasks: list[Task]


def create_batch(
    requests: list[NewTask],
    *,
    max_concurrency: int,
    tolerated_failure_percentage: int,
    actor: str,
    correlation_id: str | None = None,
) -> Batch:
    """Create the tasks queued (all or none) and start the batch machine over them, by priority.

    The tasks are not launched here: the batch machine hands each to the status syncer when a
    place is free (``on_batch_item``), which launches it; the sweeper leaves them alone.
    """
    batch_id = uuid4()
    ordered = sorted(requests, key=lambda new: PRIORITY_ORDER.index(new.priority))  # stable: as given
    rows = [
        new.model_copy(
            update={
                "source": TaskSource.BATCH,
                "metadata": {**new.metadata, "batch_id": str(batch_id), "batch_position": position},
            }
        )
        for position, new in enumerate(ordered)
    ]
    with transaction(actor=actor, correlation_id=correlation_id) as conn:
        created = [_queue(conn, task) for task in store.create_tasks(conn, rows)]
    created.sort(key=lambda task: task.metadata["batch_position"])
    arn = workflows.start_execution(
        get_settings().require("batch_state_machine_arn"),
        f"batch-{batch_id}",
        {
            "batch_id": str(batch_id),
            "tasks": [{"task_id": str(task.id)} for task in created],
            "max_concurrency": max_concurrency,
            "tolerated_failure_percentage": tolerated_failure_percentage,
        },
    )
    metrics.add_metric(name="TaskCreated", unit="Count", value=len(created))
    logger.info("batch started", extra={"batch_id": str(batch_id), "tasks": len(created)})
    return Batch(batch_id=batch_id, execution_arn=arn, tasks=created)


def on_batch_item(task_id: UUID | str, task_token: str) -> Task:
    """The batch machine's turn for this task: keep its token, then launch the task (once)."""
    with transaction(actor="workflow") as conn:
        task = store.update_task(conn, task_id, metadata={"batch_token": task_token})
    if is_terminal(task.status):
        answer_batch(task)  # ended (cancelled) before its turn came
    elif task.status == TaskStatus.QUEUED and not task.workflow_execution_arn:
        task = launch(task)
    return task


def answer_batch(task: Task) -> None:
    """A batch task that ended answers its batch item: success if completed, a failure otherwise."""
    token = task.metadata.get("batch_token")
    if not token or not is_terminal(task.status):
        return
    if task.status == TaskStatus.COMPLETED:
        workflows.succeed_waiting_step(token, {})
        return
    reasons = [entry.get("error") for entry in task.error_log if entry.get("error")]
    error = "Cancelled" if task.status == TaskStatus.CANCELLED else "TaskFailed"
    workflows.fail_waiting_step(token, error, reasons[-1] if reasons else f"the task {task.status}")


def revalidate(task_id: UUID | str, *, actor: str, head_sha: str | None = None) -> Task:
    """Validate a finished task's pull request again, at ``head_sha`` (its current head), as a new attempt.

    The workflow starts at ValidatePR and only reports: a failure is not sent back to the agent.
    """
    with transaction(actor=actor) as conn:
        task = store.require_task(conn, task_id)
        if task.status not in (TaskStatus.COMPLETED, TaskStatus.FAILED):
            raise TaskConflict(
                f"task {task.id} is {task.status}: only a finished task can be validated again"
            )
        if task.pr_number is None:
            raise TaskConflict(f"task {task.id} has no pull request to validate yet")
        task = store.transition_task(conn, task.id, TaskStatus.VALIDATING)
        task = store.update_task(conn, task.id, attempt=task.attempt + 1, head_sha=head_sha)
    return launch(task, validate_only=True)


def describe(task_id: UUID | str) -> dict[str, Any] | None:
    """A task with its whole history: executions and their steps, the audit trail, and its cost so far."""
    with transaction() as conn:
        task = store.get_task(conn, task_id)
        if task is None:
            return None
        history = store.task_history(conn, task.id)
        audit = store.task_audit(conn, task.id)
        cost = costs_store.task_cost(conn, task.id)
    return {
        "task": task.model_dump(mode="json"),
        "cost": cost.model_dump(mode="json"),
        "executions": [execution.model_dump(mode="json") for execution in history],
        "audit": [entry.model_dump(mode="json") for entry in audit],
    }
