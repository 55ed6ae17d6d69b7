"""What the GitHub report and the auto-merge step read about a task's attempts (``sql/queries/report.sql``)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import Connection
from pydantic import BaseModel, ConfigDict

from codeloop.db.queries import fetch_all, query
from codeloop.domain.models import Task


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class AttemptAgentRun(_Row):
    """The agent run of one attempt."""

    attempt: int
    provider: str
    web_url: str | None
    status: str


class AttemptValidation(_Row):
    """The validation run of one attempt; ``results`` holds its ValidationReport once there is one
    (``[]`` before)."""

    attempt: int
    status: str
    head_sha: str | None
    results: Any


def agent_runs(conn: Connection, task_id: UUID) -> list[AttemptAgentRun]:
    """The task's agent runs, by attempt."""
    rows = conn.execute(query("report.report_codegen_runs"), {"task_id": str(task_id)})
    return [AttemptAgentRun.model_validate(row) for row in rows]


def validations(conn: Connection, task_id: UUID) -> list[AttemptValidation]:
    """The task's validation runs, by attempt."""
    rows = conn.execute(query("report.report_validation_runs"), {"task_id": str(task_id)})
    return [AttemptValidation.model_validate(row) for row in rows]


def cancelled_by(conn: Connection, task_id: UUID) -> str | None:
    """Who cancelled the task (the audit log's actor of its change to 'cancelled'), if anyone did."""
    row = conn.execute(query("report.report_cancelled_by"), {"task_id": str(task_id)}).fetchone()
    return row["actor"] if row else None


def tasks_with_auto_merge_enabled(conn: Connection, repository_id: int, number: int) -> list[Task]:
    """The tasks on whose pull request ``number`` codeloop turned GitHub's auto-merge on, newest first."""
    return fetch_all(
        conn, "report.report_tasks_with_auto_merge_enabled", Task, repository_id=repository_id, number=number
    )
