"""Outcomes and costs over a period, for ``GET /api/v1/stats`` (``sql/queries/outcomes.sql``)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from psycopg import Connection
from pydantic import BaseModel, ConfigDict

from codeloop.db.queries import query
from codeloop.db.stats_store import counted_repositories
from codeloop.domain.models import Scope


class OutcomeFigures(BaseModel):
    """One group's tasks created in the period: how many went green, in how many attempts, at what cost."""

    model_config = ConfigDict(frozen=True)

    key: str  # template@version, owner/name, installation id, or "all"
    tasks: int
    green: int
    green_rate: Decimal | None
    attempts_per_task: Decimal | None
    usd: Decimal | None  # priced calls only
    unpriced_calls: int
    usd_per_green: Decimal | None  # cost per green pull request
    tokens_per_attempt: Decimal | None
    seconds_to_green_p50: Decimal | None
    seconds_to_green_mean: Decimal | None


class Outcomes(BaseModel):
    model_config = ConfigDict(frozen=True)

    since: datetime
    until: datetime
    total: OutcomeFigures
    by_template: list[OutcomeFigures]
    by_repository: list[OutcomeFigures]
    by_installation: list[OutcomeFigures]


def collect(
    conn: Connection,
    since: datetime,
    until: datetime,
    repository: str | None = None,
    scope: Scope | None = None,
) -> Outcomes:
    """Every grouping over the repositories that count (``repository`` or all, within ``scope``)."""
    rows = conn.execute(
        query("outcomes.outcomes_by"),
        {"counted": counted_repositories(conn, repository, scope), "since": since, "until": until},
    ).fetchall()
    groups: dict[str, list[OutcomeFigures]] = {
        "template": [],
        "repository": [],
        "installation": [],
        "all": [],
    }
    for row in rows:
        groups[row["group_by"]].append(OutcomeFigures.model_validate(row))
    empty = OutcomeFigures(
        key="all", tasks=0, green=0, green_rate=None, attempts_per_task=None, usd=None, unpriced_calls=0,
        usd_per_green=None, tokens_per_attempt=None, seconds_to_green_p50=None, seconds_to_green_mean=None,
    )  # fmt: skip
    return Outcomes(
        since=since,
        until=until,
        total=next(iter(groups["all"]), empty),
        by_template=groups["template"],
        by_repository=groups["repository"],
        by_installation=groups["installation"],
    )
