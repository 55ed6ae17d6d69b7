"""validation_runs: one row per (task, attempt), the validation of that attempt's pull request head.

``results`` holds the whole :class:`~codeloop.domain.validation.ValidationReport` (JSON); the
other columns repeat what queries and the status syncer read without parsing it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from psycopg import Connection
from pydantic import BaseModel, ConfigDict

from codeloop.db.queries import fetch_all, fetch_one, json_params, query
from codeloop.db.store import required
from codeloop.domain.review import AIReview
from codeloop.domain.validation import ValidationReport

RunStatus = Literal["pending", "running", "waiting_checks", "passed", "failed", "error", "not_run"]


class ValidationRun(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    id: UUID
    task_id: UUID
    attempt: int
    head_sha: str
    status: RunStatus
    summary: str | None
    results: Any
    failure_signature: str | None
    task_token: str | None
    pr_number: int | None
    execution_name: str | None
    checks_deadline_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    tree_sha: str | None = None  # the head commit's git tree, kept for a passing validation

    @property
    def report(self) -> ValidationReport:
        return ValidationReport.model_validate(self.results)


class WaitingValidationRun(ValidationRun):
    """A run waiting for the repository's CI, with the repository it belongs to."""

    repository_full_name: str
    installation_id: int | None


def _report_columns(report: ValidationReport) -> dict[str, Any]:
    return {
        "commands": [command.model_dump(mode="json") for command in report.commands],
        "results": report.model_dump(mode="json"),
        "summary": report.summary,
        "annotations": [annotation.model_dump(mode="json") for annotation in report.annotations],
        "failure_signature": report.failure_signature,
    }


def save_validation_run(
    conn: Connection,
    *,
    task_id: UUID | str,
    attempt: int,
    report: ValidationReport,
    status: RunStatus,
    head_sha: str,
    started_at: datetime,
    pr_number: int | None = None,
    execution_name: str | None = None,
    task_token: str | None = None,
    checks_deadline_at: datetime | None = None,
    tree_sha: str | None = None,
) -> ValidationRun:
    return required(
        fetch_one(
            conn,
            "save_validation_run",
            ValidationRun,
            task_id=str(task_id),
            attempt=attempt,
            head_sha=head_sha,
            status=status,
            task_token=task_token,
            pr_number=pr_number,
            execution_name=execution_name,
            checks_deadline_at=checks_deadline_at,
            started_at=started_at,
            tree_sha=tree_sha,
            **_report_columns(report),
        ),
        f"validation run of task {task_id} attempt {attempt}",
    )


def get_validation_run(conn: Connection, run_id: UUID | str) -> ValidationRun | None:
    return fetch_one(conn, "get_validation_run", ValidationRun, id=str(run_id))


def validation_run_for_attempt(conn: Connection, task_id: UUID | str, attempt: int) -> ValidationRun | None:
    return fetch_one(conn, "validation_run_for_attempt", ValidationRun, task_id=str(task_id), attempt=attempt)


def previous_validation_run(conn: Connection, task_id: UUID | str, attempt: int) -> ValidationRun | None:
    """The task's latest validation before ``attempt``."""
    return fetch_one(conn, "previous_validation_run", ValidationRun, task_id=str(task_id), attempt=attempt)


def waiting_runs_for_commit(conn: Connection, full_name: str, head_sha: str) -> list[WaitingValidationRun]:
    return fetch_all(
        conn,
        "waiting_validation_runs_for_commit",
        WaitingValidationRun,
        full_name=full_name,
        head_sha=head_sha,
    )


def waiting_runs(conn: Connection, *, limit: int = 100) -> list[WaitingValidationRun]:
    return fetch_all(conn, "waiting_validation_runs", WaitingValidationRun, limit=limit)


def finish_waiting_run(
    conn: Connection, run_id: UUID | str, report: ValidationReport, status: RunStatus
) -> ValidationRun | None:
    """Store the final report of a waiting run; None when another caller finished it first."""
    return fetch_one(
        conn,
        "finish_waiting_validation_run",
        ValidationRun,
        id=str(run_id),
        status=status,
        **_report_columns(report),
    )


def validated_green_tree(conn: Connection, full_name: str, tree_sha: str) -> bool:
    """Whether a validation of ``full_name`` passed on the git tree ``tree_sha``."""
    row = conn.execute(
        query("validated_green_tree"), {"full_name": full_name, "tree_sha": tree_sha}
    ).fetchone()
    return bool(row and row["green"])


def flaky_in_other_tasks(conn: Connection, full_name: str, task_id: UUID | str, test_ids: list[str]) -> list[str]:
    """Those of ``test_ids`` that another task's validation of ``full_name`` reported flaky."""
    rows = conn.execute(
        query("flaky_in_other_tasks"), {"full_name": full_name, "task_id": str(task_id), "test_ids": test_ids}
    ).fetchall()
    return [row["test_id"] for row in rows]


def stored_review(conn: Connection, task_id: UUID | str, attempt: int, head_sha: str) -> AIReview | None:
    """The AI review kept for this validation run's head commit (``validation_reviews``), if any."""
    row = conn.execute(
        query("stored_review"), {"task_id": str(task_id), "attempt": attempt, "head_sha": head_sha}
    ).fetchone()
    return AIReview.model_validate(row["review"]) if row else None


def store_review(
    conn: Connection, task_id: UUID | str, attempt: int, head_sha: str, review: AIReview
) -> None:
    params = {
        "task_id": str(task_id),
        "attempt": attempt,
        "head_sha": head_sha,
        "review": review.model_dump(mode="json"),
    }
    conn.execute(query("store_review"), json_params(params))
