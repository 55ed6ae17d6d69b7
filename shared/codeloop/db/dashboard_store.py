"""The dashboard's data (``sql/queries/dashboard.sql``): sessions, one-time links, the cookie
signing key, the tasks list's pages, the prompts of a task's attempts, and health figures.

``scope`` bounds what is read (None: everything, for an operator), as in the delivery log.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Connection
from pydantic import BaseModel, ConfigDict

from codeloop.db.prompts_store import RenderedPromptRow
from codeloop.db.queries import fetch_all, fetch_one, json_params, query
from codeloop.domain.dashboard import Session, TaskCursor, TaskFilter
from codeloop.domain.models import Scope


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class TaskRow(_Row):
    id: UUID
    title: str
    type: str
    status: str
    source: str
    requested_by: str | None
    attempt: int
    pr_number: int | None
    pr_url: str | None
    repository: str
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None


class RepositoryRow(_Row):
    id: int
    full_name: str
    installation_id: int | None


class WaitingTask(_Row):
    id: UUID
    status: str
    updated_at: datetime
    repository: str


class SweeperWork(_Row):
    entity: str
    entity_id: str
    action: str
    new_values: dict[str, Any] | None
    created_at: datetime


def _scope(scope: Scope | None) -> dict[str, Any]:
    return {
        "installation_ids": scope.installation_ids if scope else None,
        "repository_ids": scope.repository_ids if scope else None,
    }


# -- sessions -----------------------------------------------------------------------------------


def _session_params(id_hash: str, session: Session) -> dict[str, Any]:
    return json_params({**session.model_dump(exclude={"repository_ids"}), "id_hash": id_hash}) | {
        "repository_ids": session.repository_ids
    }


def create_session(conn: Connection, id_hash: str, session: Session) -> Session:
    row = conn.execute(query("dashboard.create_session"), _session_params(id_hash, session)).fetchone()
    return Session.model_validate(row)


def update_session_access(conn: Connection, id_hash: str, session: Session) -> None:
    """Store what a recheck confirmed: the session's repositories, roles and when."""
    conn.execute(query("dashboard.update_session_access"), _session_params(id_hash, session))


def get_session(conn: Connection, id_hash: str) -> Session | None:
    return fetch_one(conn, "dashboard.get_session", Session, id_hash=id_hash)


def delete_session(conn: Connection, id_hash: str) -> None:
    conn.execute(query("dashboard.delete_session"), {"id_hash": id_hash})


def prune(conn: Connection, now: datetime) -> dict[str, int]:
    """Delete expired sessions and spent or expired one-time links; how many of each went."""
    return {
        "sessions": conn.execute(query("dashboard.delete_expired_sessions"), {"now": now}).rowcount,
        "login_links": conn.execute(query("dashboard.delete_spent_login_links"), {"now": now}).rowcount,
    }


def create_login_link(conn: Connection, token_hash: str, expires_at: datetime) -> None:
    conn.execute(query("dashboard.create_login_link"), {"token_hash": token_hash, "expires_at": expires_at})


def redeem_login_link(conn: Connection, token_hash: str) -> bool:
    """Whether the link was live and unused; it is spent either way."""
    return conn.execute(query("dashboard.redeem_login_link"), {"token_hash": token_hash}).fetchone() is not None


def signing_key(conn: Connection) -> str:
    """The key that signs the dashboard's cookies: made once, shared by every instance."""
    conn.execute(query("dashboard.ensure_signing_key"), {"secret": secrets.token_urlsafe(48)})
    return conn.execute(query("dashboard.signing_key")).fetchone()["secret"]


# -- reading ------------------------------------------------------------------------------------


def task_page(
    conn: Connection, where: TaskFilter, *, scope: Scope | None, limit: int, after: TaskCursor | None
) -> list[TaskRow]:
    """Up to ``limit`` tasks, newest first, strictly after ``after``."""
    rows = conn.execute(
        query("dashboard.task_page"),
        {
            **where.model_dump(mode="json"),
            **_scope(scope),
            "after_created_at": after.created_at if after else None,
            "after_id": after.id if after else None,
            "limit": limit,
        },
    ).fetchall()
    return [TaskRow.model_validate(row) for row in rows]


def repositories(conn: Connection, scope: Scope | None) -> list[RepositoryRow]:
    rows = conn.execute(query("dashboard.repositories_in_scope"), _scope(scope)).fetchall()
    return [RepositoryRow.model_validate(row) for row in rows]


def attempt_prompts(conn: Connection, task_id: UUID | str) -> list[RenderedPromptRow]:
    return fetch_all(conn, "dashboard.attempt_prompts", RenderedPromptRow, task_id=task_id)


def oldest_waiting_task(conn: Connection, scope: Scope | None) -> WaitingTask | None:
    row = conn.execute(query("dashboard.oldest_waiting_task"), _scope(scope)).fetchone()
    return WaitingTask.model_validate(row) if row else None


def sweeper_work(conn: Connection, limit: int = 20) -> list[SweeperWork]:
    return fetch_all(conn, "dashboard.sweeper_work", SweeperWork, limit=limit)


def rate_window(conn: Connection, name: str, window_seconds: float) -> int:
    """Grants of the rate bucket ``name`` still inside its window."""
    row = conn.execute(
        query("dashboard.rate_window"), {"name": name, "window_seconds": window_seconds}
    ).fetchone()
    return row["taken"] if row else 0
