"""Budgets: may a task make its next agent call, may an installation start new work.

The rules are ``domain/costs.py``'s; this module reads what they need from PostgreSQL and settings.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from codeloop.db import costs_store
from codeloop.db.pool import transaction
from codeloop.domain.costs import (
    BudgetStop,
    CapsOverride,
    CostTotals,
    InstallationCaps,
    Spent,
    TaskBudget,
    budget_stop,
    installation_stop,
    raise_refusal,
)
from codeloop.settings import get_settings


class CapRaised(PermissionError):
    """An API key asked to raise (or lift) its own installation's cap; the message is safe to show."""


def installation_caps(conn: Any, installation_id: int) -> InstallationCaps:
    """The caps that apply to the installation: the operator's, each falling back to its setting
    when not set ("unlimited" lifts it)."""
    stored = costs_store.installation_caps_override(conn, installation_id)
    return (stored.caps if stored else CapsOverride()).over(_setting_caps())


def _setting_caps() -> InstallationCaps:
    settings = get_settings()
    return InstallationCaps(
        max_usd_per_day=settings.installation_max_usd_per_day,
        max_usd_per_month=settings.installation_max_usd_per_month,
    )


def _spent(conn: Any, installation_id: int, now: datetime, task_id: object = None) -> Spent:
    """What counts against the limits: the installation's today and this month, and the task's."""
    day, month = costs_store.installation_spent(conn, installation_id, now)
    task = costs_store.task_cost(conn, task_id).total if task_id is not None else CostTotals()
    return Spent(task=task, installation_day_usd=day, installation_month_usd=month)


def task_stop(
    task_id: object, installation_id: int, budget: TaskBudget, now: datetime | None = None
) -> BudgetStop | None:
    """The limit that stops the task's next agent call, or None when it may go."""
    now = now or datetime.now(UTC)
    with transaction() as conn:
        caps = installation_caps(conn, installation_id)
        spent = _spent(conn, installation_id, now, task_id)
    return budget_stop(budget, caps, spent)


def installation_refusal(installation_id: int, now: datetime | None = None) -> BudgetStop | None:
    """Why the installation may not start new work (its cap is reached), or None."""
    now = now or datetime.now(UTC)
    with transaction() as conn:
        caps = installation_caps(conn, installation_id)
        spent = _spent(conn, installation_id, now)
    return installation_stop(caps, spent)


def installation_budget(installation_id: int, now: datetime | None = None) -> dict[str, Any]:
    """The installation's caps (and where each comes from) and what it spent today and this month."""
    now = now or datetime.now(UTC)
    with transaction() as conn:
        caps = installation_caps(conn, installation_id)
        override = costs_store.installation_caps_override(conn, installation_id)
        spent = _spent(conn, installation_id, now)
    return {
        "installation_id": installation_id,
        "caps": caps.model_dump(mode="json"),
        "override": {**override.caps.model_dump(mode="json"), "updated_by": override.updated_by}
        if override
        else None,
        "spent": {
            "day_usd": str(spent.installation_day_usd),
            "month_usd": str(spent.installation_month_usd),
        },
    }


def set_installation_budget(
    installation_id: int, caps: CapsOverride, updated_by: str, *, may_raise: bool, keep: Iterable[str] = ()
) -> dict[str, Any]:
    """Override the installation's caps (None: its setting; "unlimited": none); the caps named in
    ``keep`` stay as stored. Without ``may_raise`` (an API key of the installation) the caps may
    only go down: CapRaised otherwise, and nothing changes. Writers of one installation's caps
    take turns, so a check never passes against caps another writer is changing."""
    with transaction(actor=updated_by) as conn:
        costs_store.lock_installation_caps(conn, installation_id)
        stored = costs_store.installation_caps_override(conn, installation_id)
        if keep:
            kept = stored.caps if stored else CapsOverride()
            caps = caps.model_copy(update={field: getattr(kept, field) for field in keep})
        if not may_raise and (
            refusal := raise_refusal(
                installation_id, installation_caps(conn, installation_id), caps, caps.over(_setting_caps())
            )
        ):
            raise CapRaised(refusal)
        costs_store.set_installation_caps(conn, installation_id, caps, updated_by)
    return installation_budget(installation_id)
