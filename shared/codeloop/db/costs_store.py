"""The cost and usage ledger and the installations' caps (``sql/queries/costs.sql``)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg import Connection
from pydantic import BaseModel, ConfigDict

from codeloop.db import store
from codeloop.db.queries import query
from codeloop.domain.costs import (
    NO_CAP,
    AttemptCost,
    CapsOverride,
    Charge,
    CostTotals,
    TaskCost,
    Usage,
    period_starts,
)
from codeloop.domain.lifecycle import is_terminal


def record_usage(
    conn: Connection, charge: Charge, usage: Usage, cost: Decimal | None
) -> dict[str, Any] | None:
    """Store one call against ``charge``'s task and attempt; None when it was already stored
    (an agent run seen ending twice) or the task no longer exists. A call that ends after its task
    (an agent run seen ending after a cancel) is added to the task's stored outcome."""
    stored = conn.execute(
        query("costs.record_usage"),
        {
            "task_id": charge.task_id,
            "attempt": charge.attempt,
            "prompt_name": charge.prompt_name,
            **usage.model_dump(),
            "cost_usd": cost,
        },
    ).fetchone()
    if stored is not None and is_terminal(store.require_task(conn, charge.task_id).status):
        store.record_task_outcomes(conn, [charge.task_id])
    return stored


def task_cost(conn: Connection, task_id: object) -> TaskCost:
    """The task's totals so far, per attempt and overall."""
    attempts = [
        AttemptCost.model_validate(row)
        for row in conn.execute(query("costs.task_cost_by_attempt"), {"task_id": str(task_id)})
    ]
    priced = [a.usd for a in attempts if a.usd is not None]
    total = CostTotals(
        calls=sum(a.calls for a in attempts),
        usd=sum(priced, Decimal(0)) if priced else None,
        unpriced_calls=sum(a.unpriced_calls for a in attempts),
        input_tokens=sum(a.input_tokens for a in attempts),
        output_tokens=sum(a.output_tokens for a in attempts),
        agent_seconds=sum(a.agent_seconds for a in attempts),
    )
    return TaskCost(total=total, attempts=attempts)


def installation_spent(conn: Connection, installation_id: int, now: datetime) -> tuple[Decimal, Decimal]:
    """USD the installation's priced calls cost today and this month (UTC)."""
    day_start, month_start = period_starts(now)
    row = conn.execute(
        query("costs.installation_spent"),
        {"installation_id": installation_id, "day_start": day_start, "month_start": month_start},
    ).fetchone()
    assert row is not None
    return Decimal(row["day_usd"]), Decimal(row["month_usd"])


# How installation_budgets keeps an operator's "unlimited": a cap nothing reaches.
STORED_NO_CAP = Decimal("Infinity")


class StoredCaps(BaseModel):
    """The operator's caps for an installation, and who set them."""

    model_config = ConfigDict(frozen=True)

    caps: CapsOverride
    updated_by: str | None


def lock_installation_caps(conn: Connection, installation_id: int) -> None:
    """Wait for, then hold until this transaction ends, the right to change the installation's caps."""
    conn.execute(query("costs.lock_installation_caps"), {"installation_id": installation_id})


def installation_caps_override(conn: Connection, installation_id: int) -> StoredCaps | None:
    """The operator's caps for the installation (a row of installation_budgets), if set."""
    row = conn.execute(
        query("costs.get_installation_budget"), {"installation_id": installation_id}
    ).fetchone()
    if row is None:
        return None
    caps = {
        column: NO_CAP if row[column] == STORED_NO_CAP else row[column]
        for column in CapsOverride.model_fields
    }
    return StoredCaps(caps=CapsOverride.model_validate(caps), updated_by=row["updated_by"])


def set_installation_caps(
    conn: Connection, installation_id: int, caps: CapsOverride, updated_by: str
) -> None:
    stored = {
        column: STORED_NO_CAP if value == NO_CAP else value for column, value in caps.model_dump().items()
    }
    conn.execute(
        query("costs.set_installation_budget"),
        {"installation_id": installation_id, "updated_by": updated_by, **stored},
    )
