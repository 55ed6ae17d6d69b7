"""Webhook deliveries as plain rows: what the receiver's first delivery needs (store, mark queued)
without ``store``'s models and queries for everything else (a cold start). ``store`` builds its
records from these rows."""

from __future__ import annotations

from typing import Any

from psycopg import Connection

from codeloop.db.queries import json_params, query
from codeloop.domain.delivery_status import DeliveryStatus


class NotFound(LookupError):
    """No such record (``store`` raises it too)."""


def insert(
    conn: Connection,
    *,
    delivery_id: str,
    event: str,
    action: str | None,
    installation_id: int | None,
    repository_id: int | None,
    repository_full_name: str | None,
    payload: dict[str, Any],
    status: DeliveryStatus = DeliveryStatus.RECEIVED,
    body_sha256: bytes | None = None,
    source: str = "github",
) -> dict[str, Any] | None:
    """Store a delivery; None when its id or its body's SHA-256 was stored before (a duplicate).
    ``source``: github, or the other service it came from (slack)."""
    params = {
        "delivery_id": delivery_id,
        "event": event,
        "action": action,
        "installation_id": installation_id,
        "repository_id": repository_id,
        "repository_full_name": repository_full_name,
        "payload": payload,
        "status": status.value,
        "body_sha256": body_sha256,
        "source": source,
    }
    return conn.execute(query("deliveries.insert_delivery"), json_params(params)).fetchone()


def set_status(
    conn: Connection, delivery_id: str, status: DeliveryStatus, error: str | None = None
) -> dict[str, Any]:
    """The delivery's row with its new status; NotFound when no such delivery is stored."""
    params = {"delivery_id": delivery_id, "status": status.value, "error": error}
    row = conn.execute(query("deliveries.set_delivery_status"), params).fetchone()
    if row is None:
        raise NotFound(f"delivery {delivery_id}")
    return row


def mark_queued(conn: Connection, delivery_id: str) -> bool:
    """'received' → 'queued' once the delivery is on the queue; False when it had moved on already
    (a worker took it first), which it keeps."""
    return (
        conn.execute(query("deliveries.mark_delivery_queued"), {"delivery_id": delivery_id}).fetchone()
        is not None
    )


def unqueue(conn: Connection, delivery_id: str) -> None:
    """'queued' → 'received' when the send after the insert failed, so the sweeper sends it."""
    conn.execute(query("deliveries.unqueue_delivery"), {"delivery_id": delivery_id})
