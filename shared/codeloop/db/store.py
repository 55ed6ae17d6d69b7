"""Repository functions: each runs named queries on a connection and returns typed records.

Every function takes the connection first, so a caller composes several in one transaction
(``with transaction() as conn: ...``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from psycopg import Connection
from pydantic import BaseModel

from codeloop.db import delivery_rows
from codeloop.db.delivery_rows import NotFound
from codeloop.db.queries import fetch_all, fetch_one, query
from codeloop.domain.lifecycle import TaskStatus, check_transition, is_terminal
from codeloop.domain.models import (
    ApiKey,
    AuditEntry,
    DeliveryStatus,
    Installation,
    NewTask,
    Repository,
    RepositoryRef,
    StuckDelivery,
    Task,
    WebhookDelivery,
    WorkflowExecution,
    WorkflowStep,
)

M = TypeVar("M", bound=BaseModel)


def required(record: M | None, what: str) -> M:
    if record is None:
        raise NotFound(what)
    return record


# -- installations and repositories --------------------------------------------------------------


def upsert_installation(conn: Connection, installation: Installation) -> Installation:
    return required(
        fetch_one(
            conn, "upsert_installation", Installation, **installation.model_dump(exclude={"deleted_at"})
        ),
        f"installation {installation.id}",
    )


def ensure_installation(conn: Connection, installation_id: int, account_login: str) -> None:
    conn.execute(query("ensure_installation"), {"id": installation_id, "account_login": account_login})


def set_installation_suspended(conn: Connection, installation_id: int, suspended_at: datetime | None) -> None:
    fetch_one(conn, "set_installation_suspended", Installation, id=installation_id, suspended_at=suspended_at)


def mark_installation_deleted(conn: Connection, installation_id: int) -> None:
    conn.execute(query("mark_installation_deleted"), {"id": installation_id})


def get_installation(conn: Connection, installation_id: int) -> Installation | None:
    return fetch_one(conn, "get_installation", Installation, id=installation_id)


def upsert_repository(conn: Connection, repo: RepositoryRef, installation_id: int | None) -> Repository:
    return required(
        fetch_one(
            conn, "upsert_repository", Repository, installation_id=installation_id, **repo.model_dump()
        ),
        f"repository {repo.full_name}",
    )


def deactivate_repository(conn: Connection, repository_id: int) -> None:
    conn.execute(query("deactivate_repository"), {"id": repository_id})


def get_repository(conn: Connection, repository_id: int) -> Repository | None:
    return fetch_one(conn, "get_repository", Repository, id=repository_id)


def get_repository_by_name(conn: Connection, full_name: str) -> Repository | None:
    return fetch_one(conn, "get_repository_by_name", Repository, full_name=full_name)


def update_repository_settings(conn: Connection, repository_id: int, **settings: Any) -> Repository:
    fields = dict.fromkeys(
        ("setup_commands", "test_commands", "deploy_commands", "rules", "auto_merge", "iteration_budget")
    )
    unknown = set(settings) - set(fields)
    if unknown:
        raise ValueError(f"unknown repository settings: {', '.join(sorted(unknown))}")
    fields.update(settings)
    return required(
        fetch_one(conn, "update_repository_settings", Repository, id=repository_id, **fields),
        f"repository {repository_id}",
    )


# -- tasks ---------------------------------------------------------------------------------------


def create_task(conn: Connection, task: NewTask) -> Task:
    """Create a task; for a request already seen (same ``request_key``) return the task it made."""
    created = fetch_one(conn, "create_task", Task, **task.model_dump(mode="json"))
    if created is None:
        return required(
            fetch_one(conn, "task_by_request_key", Task, request_key=task.request_key),
            f"task for {task.request_key}",
        )
    return created


def create_tasks(conn: Connection, tasks: Iterable[NewTask]) -> list[Task]:
    rows = [task.model_dump(mode="json") for task in tasks]
    if not rows:
        return []
    return fetch_all(conn, "create_tasks", Task, rows=rows)


def get_task(conn: Connection, task_id: UUID | str) -> Task | None:
    return fetch_one(conn, "get_task", Task, id=str(task_id))


def require_task(conn: Connection, task_id: UUID | str) -> Task:
    return required(get_task(conn, task_id), f"task {task_id}")


def transition_task(
    conn: Connection,
    task_id: UUID | str,
    target: TaskStatus | str,
    *,
    step: str | None = None,
    error: str | None = None,
) -> Task:
    """Move a task to ``target`` if the lifecycle allows it (raises IllegalTransition if not).

    The row is locked first, so two writers cannot both move the same task from one state.
    An error, when given, is appended to the task's error log with the step it came from.
    A task that ends gets its outcome written in the same transaction; one that runs again loses it.
    """
    current = required(fetch_one(conn, "lock_task", Task, id=str(task_id)), f"task {task_id}")
    status = check_transition(current.status, target)
    entry = None
    if error is not None:
        entry = json.dumps([{"at": datetime.now().astimezone().isoformat(), "step": step, "error": error}])
    moved = required(
        fetch_one(conn, "set_task_status", Task, id=str(task_id), status=status.value, error=entry),
        f"task {task_id}",
    )
    if is_terminal(current.status) or is_terminal(status):
        record_task_outcomes(conn, [moved.id])
    return moved


def record_task_outcomes(conn: Connection, task_ids: Iterable[UUID | str]) -> None:
    """Store what the given tasks' outcomes are now (``sql/queries/outcomes.sql``): an ended task's
    rows for template selection and the stats, written anew each time, so it counts once however
    often it ends; a running task has none."""
    params = {"task_ids": [str(task_id) for task_id in task_ids]}
    conn.execute(query("outcomes.lock_tasks_for_outcomes"), params)
    conn.execute(query("outcomes.forget_task_outcomes"), params)
    conn.execute(query("outcomes.write_task_outcomes"), params)


def update_task(conn: Connection, task_id: UUID | str, **fields: Any) -> Task:
    """Change a task's non-status fields; a field left out (or None) keeps its value."""
    allowed = (
        "branch",
        "pr_number",
        "pr_url",
        "head_sha",
        "agent_run_url",
        "attempt",
        "retry_count",
        "workflow_execution_arn",
        "status_comment_id",
        "metadata",
    )
    unknown = set(fields) - set(allowed)
    if unknown:
        raise ValueError(f"update_task cannot change: {', '.join(sorted(unknown))}")
    params = dict.fromkeys(allowed) | fields
    return required(fetch_one(conn, "update_task_fields", Task, id=str(task_id), **params), f"task {task_id}")


def latest_task_for_thread(conn: Connection, repository_id: int, number: int) -> Task | None:
    return fetch_one(conn, "latest_task_for_thread", Task, repository_id=repository_id, number=number)


def list_tasks(
    conn: Connection, *, repository_id: int | None = None, status: str | None = None, limit: int = 50
) -> list[Task]:
    return fetch_all(conn, "list_tasks", Task, repository_id=repository_id, status=status, limit=limit)


def unlaunched_tasks(conn: Connection, *, older_than_seconds: float = 60, limit: int = 50) -> list[Task]:
    return fetch_all(conn, "unlaunched_tasks", Task, older_than_seconds=older_than_seconds, limit=limit)


def task_audit(conn: Connection, task_id: UUID | str) -> list[AuditEntry]:
    return fetch_all(conn, "task_audit", AuditEntry, id=str(task_id))


# -- webhook deliveries --------------------------------------------------------------------------


def insert_delivery(conn: Connection, **fields: Any) -> WebhookDelivery | None:
    """Store a delivery (``delivery_rows.insert``'s fields); None for a duplicate."""
    row = delivery_rows.insert(conn, **fields)
    return WebhookDelivery.model_validate(row) if row else None


def get_delivery(conn: Connection, delivery_id: str) -> WebhookDelivery | None:
    return fetch_one(conn, "get_delivery", WebhookDelivery, delivery_id=delivery_id)


def get_delivery_payload(conn: Connection, delivery_id: str) -> dict[str, Any]:
    row = conn.execute(query("get_delivery_payload"), {"delivery_id": delivery_id}).fetchone()
    if row is None:
        raise NotFound(f"delivery {delivery_id}")
    return row["payload"]


def place_delivery(conn: Connection, delivery_id: str, repository: Repository) -> None:
    """Record the repository (and its installation) a delivery is about, where it named none."""
    conn.execute(
        query("place_delivery"),
        {
            "delivery_id": delivery_id,
            "installation_id": repository.installation_id,
            "repository_id": repository.id,
            "repository_full_name": repository.full_name,
        },
    )


def set_delivery_status(
    conn: Connection, delivery_id: str, status: DeliveryStatus, error: str | None = None
) -> WebhookDelivery:
    return WebhookDelivery.model_validate(delivery_rows.set_status(conn, delivery_id, status, error))


def stuck_deliveries(
    conn: Connection, *, older_than_seconds: float = 60, limit: int = 100
) -> list[StuckDelivery]:
    return fetch_all(
        conn, "stuck_deliveries", StuckDelivery, older_than_seconds=older_than_seconds, limit=limit
    )


def claim_unsent_deliveries(
    conn: Connection, *, older_than_seconds: float, limit: int = 100
) -> list[WebhookDelivery]:
    return fetch_all(
        conn, "claim_unsent_deliveries", WebhookDelivery, older_than_seconds=older_than_seconds, limit=limit
    )


# -- workflow ledger -----------------------------------------------------------------------------


def start_execution(
    conn: Connection, task_id: UUID | str, name: str, execution_arn: str | None = None
) -> WorkflowExecution:
    return required(
        fetch_one(
            conn,
            "start_execution",
            WorkflowExecution,
            task_id=str(task_id),
            name=name,
            execution_arn=execution_arn,
        ),
        f"execution {name}",
    )


def finish_execution(conn: Connection, name: str, status: str, error: str | None = None) -> WorkflowExecution:
    return required(
        fetch_one(conn, "finish_execution", WorkflowExecution, name=name, status=status, error=error),
        f"execution {name}",
    )


def start_step(
    conn: Connection, execution_name: str, step: str, attempt: int, task_token: str | None = None
) -> WorkflowStep:
    return required(
        fetch_one(
            conn,
            "start_step",
            WorkflowStep,
            name=execution_name,
            step=step,
            attempt=attempt,
            task_token=task_token,
        ),
        f"execution {execution_name}",
    )


def finish_step(
    conn: Connection, execution_name: str, step: str, attempt: int, status: str, error: str | None = None
) -> WorkflowStep:
    return required(
        fetch_one(
            conn,
            "finish_step",
            WorkflowStep,
            name=execution_name,
            step=step,
            attempt=attempt,
            status=status,
            error=error,
        ),
        f"step {step} of {execution_name}",
    )


def running_executions(
    conn: Connection, *, older_than_seconds: float = 300, limit: int = 50
) -> list[WorkflowExecution]:
    return fetch_all(
        conn, "running_executions", WorkflowExecution, older_than_seconds=older_than_seconds, limit=limit
    )


def execution_by_name(conn: Connection, name: str) -> WorkflowExecution | None:
    return fetch_one(conn, "execution_by_name", WorkflowExecution, name=name)


def waiting_step_tokens(conn: Connection, task_id: UUID | str) -> list[str]:
    rows = conn.execute(query("waiting_step_tokens"), {"task_id": str(task_id)}).fetchall()
    return [row["task_token"] for row in rows]


def task_history(conn: Connection, task_id: UUID | str) -> list[WorkflowExecution]:
    """A task's executions, each with its steps in order: the ledger ``GET /api/v1/tasks/{id}`` shows."""
    executions = fetch_all(conn, "executions_for_task", WorkflowExecution, task_id=str(task_id))
    rows = conn.execute(query("steps_for_task"), {"task_id": str(task_id)}).fetchall()
    by_name: dict[str, list[WorkflowStep]] = {}
    for row in rows:
        by_name.setdefault(row["execution_name"], []).append(WorkflowStep.model_validate(row))
    return [
        execution.model_copy(update={"steps": by_name.get(execution.name, [])}) for execution in executions
    ]


# -- API keys ------------------------------------------------------------------------------------


def create_api_key(
    conn: Connection,
    name: str,
    prefix: str,
    key_hash: str,
    *,
    installation_ids: Iterable[int] = (),
    repository_ids: Iterable[int] = (),
    may_raise_caps: bool = False,
) -> ApiKey:
    return required(
        _scoped_key(
            conn,
            "create_api_key",
            {"name": name, "prefix": prefix, "key_hash": key_hash, "may_raise_caps": may_raise_caps},
            installation_ids,
            repository_ids,
        ),
        f"api key {name}",
    )


def _scoped_key(
    conn: Connection,
    query_name: str,
    params: dict[str, Any],
    installation_ids: Iterable[int],
    repository_ids: Iterable[int],
) -> ApiKey | None:
    """Run a query that writes a key's scope (as PostgreSQL arrays, not the JSON lists become)."""
    row = conn.execute(
        query(query_name),
        {
            **params,
            "installation_ids": sorted(set(installation_ids)),
            "repository_ids": sorted(set(repository_ids)),
        },
    ).fetchone()
    return ApiKey.model_validate(row) if row else None


def authenticate_api_key(conn: Connection, key_hash: str) -> ApiKey | None:
    return fetch_one(conn, "authenticate_api_key", ApiKey, key_hash=key_hash)


def scope_api_key(
    conn: Connection, name: str, *, installation_ids: Iterable[int], repository_ids: Iterable[int]
) -> ApiKey | None:
    """Replace a live key's scope; None when no live key has that name."""
    return _scoped_key(conn, "scope_api_key", {"name": name}, installation_ids, repository_ids)


def revoke_api_key(conn: Connection, name: str) -> ApiKey | None:
    return fetch_one(conn, "revoke_api_key", ApiKey, name=name)


def list_api_keys(conn: Connection) -> list[ApiKey]:
    return fetch_all(conn, "list_api_keys", ApiKey)
