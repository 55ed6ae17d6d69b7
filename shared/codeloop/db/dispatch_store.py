"""The codegen dispatcher's data: provider breakers, rate buckets, runs, and tasks waiting for a provider.

Breakers and buckets are changed under ``select … for update`` on their one row, with the
transitions computed by the pure domain functions, so every Lambda instance shares them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict

from codeloop.db.queries import query
from codeloop.domain import breaker as breakers
from codeloop.domain.breaker import Breaker, BreakerPolicy
from codeloop.domain.rate_window import Grant, take


class CodegenRun(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    id: UUID
    task_id: UUID
    attempt: int
    provider: str
    external_id: str | None
    status: str
    web_url: str | None
    prompt_id: UUID | None
    task_token: str | None
    pull_requests: list[dict[str, Any]]
    summary: str | None
    error: str | None
    deadline_at: datetime | None
    last_polled_at: datetime | None
    execution_name: str | None
    claimed_until: datetime | None
    failed_calls: int
    answered_at: datetime | None
    pr_number: int | None
    head_sha: str | None
    created_at: datetime
    fresh: bool = False  # claim_run: the row was created by this claim


class ProviderWait(BaseModel):
    model_config = ConfigDict(frozen=True)

    task_id: UUID
    attempt: int
    execution_name: str
    providers: list[str]
    message: dict[str, Any]
    since: datetime


def _row(conn: Connection, query_name: str, /, **params: Any) -> dict[str, Any] | None:
    return conn.execute(query(query_name), params).fetchone()


def _run(conn: Connection, query_name: str, /, **params: Any) -> CodegenRun | None:
    row = _row(conn, query_name, **params)
    return CodegenRun.model_validate(row) if row else None


# -- breakers ---------------------------------------------------------------------------------


def _breaker(row: dict[str, Any]) -> Breaker:
    return Breaker.model_validate(row)


def _locked_breaker(conn: Connection, provider: str) -> Breaker:
    conn.execute(query("ensure_breaker"), {"provider": provider})
    return _breaker(_row(conn, "lock_breaker", provider=provider) or {"provider": provider})


def _save_breaker(conn: Connection, before: Breaker, after: Breaker) -> Breaker:
    if after != before:
        conn.execute(query("save_breaker"), after.model_dump())
    return after


def get_breaker(conn: Connection, provider: str) -> Breaker:
    row = _row(conn, "get_breaker", provider=provider)
    return _breaker(row) if row else Breaker(provider=provider)


def breaker_admits(conn: Connection, provider: str, now: datetime, policy: BreakerPolicy) -> bool:
    """Admit a call to ``provider``: always when closed; when a probe is due, only the first caller."""
    if get_breaker(conn, provider).state is breakers.BreakerState.CLOSED:
        return True  # the common case reads and writes nothing else
    current = _locked_breaker(conn, provider)
    admitted, after = breakers.admit(current, now, policy)
    _save_breaker(conn, current, after)
    return admitted


def breaker_may_admit(conn: Connection, provider: str, now: datetime, policy: BreakerPolicy) -> bool:
    return breakers.may_admit(get_breaker(conn, provider), now, policy)


def breaker_success(conn: Connection, provider: str) -> Breaker:
    current = get_breaker(conn, provider)
    if current == breakers.on_success(current):
        return current
    current = _locked_breaker(conn, provider)
    return _save_breaker(conn, current, breakers.on_success(current))


def breaker_failure(conn: Connection, provider: str, now: datetime, policy: BreakerPolicy) -> Breaker:
    current = _locked_breaker(conn, provider)
    return _save_breaker(conn, current, breakers.on_failure(current, now, policy))


# -- rate buckets -----------------------------------------------------------------------------


def take_token(conn: Connection, name: str, now: datetime, capacity: int, window: timedelta) -> Grant:
    """Take one token from the shared bucket ``name`` (the row stays locked until the caller commits)."""
    conn.execute(query("ensure_bucket"), {"name": name})
    row = _row(conn, "lock_bucket", name=name)
    grant = take(row["taken_at"] if row else [], now, capacity, window)
    conn.execute(query("save_bucket"), {"name": name, "taken_at": list(grant.taken_at)})
    return grant


# -- prompts and runs -------------------------------------------------------------------------


def get_run(conn: Connection, task_id: UUID | str, attempt: int) -> CodegenRun | None:
    return _run(conn, "get_codegen_run", task_id=str(task_id), attempt=attempt)


def claim_run(
    conn: Connection,
    *,
    task_id: UUID | str,
    attempt: int,
    provider: str,
    prompt_id: UUID | str,
    task_token: str,
    execution_name: str,
    now: datetime,
    claim_for: timedelta,
) -> CodegenRun | None:
    """Write or take over the (task, attempt) idempotency record; None if it is not ours to call."""
    return _run(
        conn,
        "claim_codegen_run",
        task_id=str(task_id),
        attempt=attempt,
        provider=provider,
        prompt_id=str(prompt_id),
        task_token=task_token,
        execution_name=execution_name,
        claimed_until=now + claim_for,
        now=now,
    )


def record_run_started(
    conn: Connection,
    run_id: UUID,
    *,
    provider: str,
    external_id: str,
    status: str,
    web_url: str | None,
    pull_requests: Sequence[dict[str, Any]],
    summary: str | None,
    error: str | None,
    deadline_at: datetime | None,
) -> CodegenRun:
    run = _run(
        conn,
        "record_run_started",
        id=run_id,
        provider=provider,
        external_id=external_id,
        status=status,
        web_url=web_url,
        pull_requests=Jsonb(list(pull_requests)),
        summary=summary,
        error=error,
        deadline_at=deadline_at,
    )
    assert run is not None
    return run


def record_call_failed(
    conn: Connection, run_id: UUID, provider: str, error: str, *, claimed_until: datetime | None
) -> CodegenRun:
    """Count a failed call and end the claim (``claimed_until`` not None: reconcile before calling again)."""
    run = _run(
        conn,
        "record_call_failed",
        id=run_id,
        provider=provider,
        error=error[:2000],
        claimed_until=claimed_until,
    )
    assert run is not None
    return run


def set_run_token(conn: Connection, run_id: UUID, task_token: str, execution_name: str) -> None:
    conn.execute(
        query("set_run_token"), {"id": run_id, "task_token": task_token, "execution_name": execution_name}
    )


def update_run_progress(
    conn: Connection,
    run_id: UUID,
    *,
    status: str,
    pull_requests: Sequence[dict[str, Any]],
    summary: str | None,
    error: str | None,
    web_url: str | None = None,
) -> None:
    conn.execute(
        query("update_run_progress"),
        {
            "id": run_id,
            "status": status,
            "pull_requests": Jsonb(list(pull_requests)),
            "summary": summary,
            "error": error,
            "web_url": web_url,
        },
    )


def answer_run(
    conn: Connection,
    run_id: UUID,
    *,
    pr_number: int | None,
    head_sha: str | None,
    pull_requests: Sequence[dict[str, Any]] | None = None,
) -> CodegenRun | None:
    """Mark the run's token as answered; None when someone answered it first."""
    return _run(
        conn,
        "answer_run",
        id=run_id,
        pr_number=pr_number,
        head_sha=head_sha,
        pull_requests=None if pull_requests is None else Jsonb(list(pull_requests)),
    )


def unanswer_run(conn: Connection, run_id: UUID) -> None:
    conn.execute(query("unanswer_run"), {"id": run_id})


def claim_runs_to_poll(
    conn: Connection, providers: Sequence[str], now: datetime, polled_before: datetime, limit: int
) -> list[CodegenRun]:
    rows = conn.execute(
        query("claim_runs_to_poll"),
        {"providers": list(providers), "now": now, "polled_before": polled_before, "limit": limit},
    ).fetchall()
    return [CodegenRun.model_validate(row) for row in rows]


def unanswered_runs_for_repository(conn: Connection, full_name: str) -> list[CodegenRun]:
    rows = conn.execute(query("unanswered_runs_for_repository"), {"full_name": full_name}).fetchall()
    return [CodegenRun.model_validate(row) for row in rows]


# -- tasks waiting for a provider -------------------------------------------------------------


def save_provider_wait(
    conn: Connection,
    *,
    task_id: UUID | str,
    attempt: int,
    execution_name: str,
    providers: Sequence[str],
    message: dict[str, Any],
) -> None:
    conn.execute(
        query("save_provider_wait"),
        {
            "task_id": str(task_id),
            "attempt": attempt,
            "execution_name": execution_name,
            "providers": list(providers),
            "message": Jsonb(message),
        },
    )


def provider_waits(conn: Connection, limit: int = 100) -> list[ProviderWait]:
    return [
        ProviderWait.model_validate(row) for row in conn.execute(query("provider_waits"), {"limit": limit})
    ]


def delete_provider_wait(conn: Connection, task_id: UUID | str, attempt: int) -> bool:
    return _row(conn, "delete_provider_wait", task_id=str(task_id), attempt=attempt) is not None


# -- branches the agent created ------------------------------------------------------------------


def record_agent_branches(
    conn: Connection, task_id: UUID | str, branches: Sequence[str], *, created_by: str, run_id: str | None
) -> None:
    """Remember branches the agent created for the task (domain/adoption.py trusts only these)."""
    for branch in dict.fromkeys(branch for branch in branches if branch):
        conn.execute(
            query("record_agent_branch"),
            {"task_id": str(task_id), "branch": branch, "created_by": created_by, "run_id": run_id},
        )


def agent_branches(conn: Connection, task_id: UUID | str) -> list[str]:
    return [row["branch"] for row in conn.execute(query("agent_branches"), {"task_id": str(task_id)})]
