"""Failure memory in PostgreSQL: remember what turned a failure green, recall it for a similar one
(the rules and limits: :mod:`codeloop.domain.fix_memory`)."""

from __future__ import annotations

from psycopg import Connection

from codeloop.db import dispatch_store, learning_store, store
from codeloop.db.validation_store import ValidationRun
from codeloop.domain.fix_memory import FixMemory, failure_keys, fix_summary
from codeloop.domain.validation import ValidationReport
from codeloop.observability import logger


def remember_fix(
    conn: Connection, run: ValidationRun, report: ValidationReport, previous: ValidationRun | None
) -> None:
    """When ``run`` passed right after the task's ``previous`` validation failed, remember that
    failure and the change that fixed it (the green pull request's files, the agent's summary)."""
    if report.verdict != "passed" or previous is None or previous.status != "failed":
        return
    keys = failure_keys(previous.report)
    if keys is None:
        return
    agent_run = dispatch_store.get_run(conn, run.task_id, run.attempt)
    row = learning_store.remember_fix(
        conn,
        repository_id=store.require_task(conn, run.task_id).repository_id,
        task_id=run.task_id,
        attempt=run.attempt,
        keys=keys,
        fix=fix_summary(report.changed_paths, agent_run.summary if agent_run else None),
    )
    if row is not None:
        logger.info(
            "fix remembered",
            extra={"fix_memory_id": str(row.id), "tests": len(keys.test_ids), "files": len(row.files)},
        )


def recall(conn: Connection, repository_id: int, failed: ValidationRun | None) -> list[FixMemory]:
    """What fixed failures like ``failed`` in the repository before, most similar first."""
    keys = failure_keys(failed.report) if failed is not None else None
    if keys is None:
        return []
    return [row.memory() for row in learning_store.similar_fixes(conn, repository_id, keys)]
