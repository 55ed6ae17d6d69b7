"""Learning from outcomes in PostgreSQL: the outcomes template selection learns from, and failure
memory (``sql/queries/learning.sql``; which tasks count is the ``task_outcomes_computed`` view's rule,
stored in ``task_outcomes`` when a task ends)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Connection
from pydantic import BaseModel, ConfigDict

from codeloop.db.queries import M, query
from codeloop.domain.fix_memory import MAX_RECALLED, FailureKeys, FixMemory, FixSummary


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class OutcomeRow(_Record):
    template_id: str
    version: int
    complexity: int
    this_repository: bool
    green: int
    not_green: int


class VersionRow(_Record):
    template_id: str
    version: int


class FixMemoryRow(_Record):
    id: UUID
    repository_id: int
    task_id: UUID
    attempt: int
    failure_signature: str
    test_ids: list[str]
    error_types: list[str]
    files: list[str]
    summary: str
    created_at: datetime

    def memory(self) -> FixMemory:
        return FixMemory(
            id=str(self.id),
            attempt=self.attempt,
            test_ids=self.test_ids,
            error_types=self.error_types,
            files=self.files,
            summary=self.summary,
        )


def _rows(conn: Connection, name: str, model: type[M], **params: Any) -> list[M]:
    """Run a query whose lists are text[] (``fetch_all`` would send them as jsonb)."""
    return [model.model_validate(row) for row in conn.execute(query(name), params).fetchall()]


def template_outcomes(
    conn: Connection, template_ids: list[str], task_type: str, repository_id: int
) -> list[OutcomeRow]:
    """The outcomes of ``template_ids`` in tasks of ``task_type`` only."""
    return _rows(
        conn,
        "template_outcomes",
        OutcomeRow,
        template_ids=template_ids,
        task_type=task_type,
        repository_id=repository_id,
    )


def task_versions(conn: Connection, task_id: UUID | str) -> dict[str, int]:
    """The version of each template the task used first."""
    return {
        row.template_id: row.version for row in _rows(conn, "task_versions", VersionRow, task_id=str(task_id))
    }


def remember_fix(
    conn: Connection,
    *,
    repository_id: int,
    task_id: UUID | str,
    attempt: int,
    keys: FailureKeys,
    fix: FixSummary,
) -> FixMemoryRow | None:
    """Store a memory; None when this attempt's is already stored (a report concluded twice)."""
    rows = _rows(
        conn,
        "remember_fix",
        FixMemoryRow,
        repository_id=repository_id,
        task_id=str(task_id),
        attempt=attempt,
        failure_signature=keys.signature,
        test_ids=keys.test_ids,
        error_types=keys.error_types,
        files=fix.files,
        summary=fix.summary,
    )
    return rows[0] if rows else None


def similar_fixes(
    conn: Connection, repository_id: int, keys: FailureKeys, limit: int = MAX_RECALLED
) -> list[FixMemoryRow]:
    return _rows(
        conn,
        "similar_fixes",
        FixMemoryRow,
        repository_id=repository_id,
        failure_signature=keys.signature,
        test_ids=keys.test_ids,
        error_types=keys.error_types,
        limit=limit,
    )
