"""The delivery log in PostgreSQL: pages of stored deliveries within a key's scope, and replays.

``scope`` is an API key whose installations and repositories bound what is seen (None: no
bound, for operators at the command line).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import Connection
from pydantic import BaseModel

from codeloop.db.queries import fetch_all, fetch_one, query
from codeloop.domain.delivery_log import Cursor, DeliveryFilter, LoggedDelivery
from codeloop.domain.models import Scope


class ReplayRecord(BaseModel):
    """A replay as the audit log holds it."""

    id: int
    actor: str | None
    new_values: dict[str, Any]
    created_at: datetime


def page(
    conn: Connection, where: DeliveryFilter, *, scope: Scope | None, limit: int, after: Cursor | None
) -> list[LoggedDelivery]:
    """Up to ``limit`` deliveries, newest first, strictly after ``after``.

    Run without ``fetch_all``'s JSON parameters: the scope's id lists are arrays, not jsonb.
    """
    rows = conn.execute(
        query("delivery_log.list_deliveries"),
        {
            **where.model_dump(mode="json"),
            "installation_ids": scope.installation_ids if scope else None,
            "repository_ids": scope.repository_ids if scope else None,
            "after_received_at": after.received_at if after else None,
            "after_id": after.delivery_id if after else None,
            "limit": limit,
        },
    ).fetchall()
    return [LoggedDelivery.model_validate(row) for row in rows]


def get(conn: Connection, delivery_id: str, *, lock: bool = False) -> LoggedDelivery | None:
    """One delivery; with ``lock``, held until the transaction ends."""
    name = "delivery_log.lock_delivery" if lock else "delivery_log.get_logged_delivery"
    return fetch_one(conn, name, LoggedDelivery, delivery_id=delivery_id)


def record_replay(
    conn: Connection,
    delivery: LoggedDelivery,
    *,
    actor: str,
    details: dict[str, Any],
    correlation_id: str | None,
) -> ReplayRecord:
    """Write the replay into the audit log; its row id names the replay."""
    record = fetch_one(
        conn,
        "delivery_log.record_replay",
        ReplayRecord,
        delivery_id=delivery.delivery_id,
        old_values={"status": delivery.status.value},
        new_values=details,
        actor=actor,
        correlation_id=correlation_id,
    )
    assert record is not None  # an insert … returning always returns its row
    return record


def replays(conn: Connection, delivery_id: str) -> list[ReplayRecord]:
    return fetch_all(conn, "delivery_log.replays_of", ReplayRecord, delivery_id=delivery_id)
