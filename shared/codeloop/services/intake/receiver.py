"""The webhook receiver: verify, store, enqueue, answer — in well under GitHub's 10 seconds.

A delivery is acknowledged (202) only once it is durable in PostgreSQL. One that is acted on is
stored as 'queued' and then sent: one statement and one send, nothing after. If the send fails,
the row goes back to 'received' and the sweeper sends it; if the receiver stops between the two,
the sweeper sends what stays 'queued' and unprocessed too long. Nothing accepted is lost.
If the database cannot be reached within ``FRONT_DB_WAIT_SECONDS``, the answer is 503 at once.
Nothing here builds githubkit's typed models: the envelope reads the few fields routing needs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psycopg

from codeloop.adapters import aws
from codeloop.db import delivery_rows
from codeloop.db.pool import autocommitted, front_wait, transaction
from codeloop.domain.delivery_status import DeliveryStatus
from codeloop.domain.webhooks import (
    DeliveryEnvelope,
    Route,
    WebhookRejected,
    decode_body,
    parse_delivery,
    route,
)
from codeloop.observability import bind, logger, metrics
from codeloop.settings import SettingsError, get_settings

if TYPE_CHECKING:  # a replay's request is built by the replay service; the first delivery needs none
    from codeloop.domain.delivery_log import ReplayRequest

MAX_DEDUP_ID = 128  # SQS's limit for MessageDeduplicationId
# GitHub lists a 503 as a failed delivery; the sweeper asks GitHub to redeliver failed ones.
DATABASE_UNAVAILABLE = "codeloop cannot store deliveries right now; it will ask GitHub for this one again"


def _webhook_secrets() -> list[str]:
    settings = get_settings()
    return [
        settings.secret("github_webhook_secret"),
        settings.optional_secret("github_webhook_secret_previous") or "",
    ]


@dataclass(frozen=True)
class Receipt:
    """The receiver's answer to GitHub: an HTTP status and a JSON body (the API layer sends it)."""

    status: int
    body: dict[str, Any]


def receive_webhook(event: dict[str, Any]) -> Receipt:
    """Handle one API Gateway (payload 2.0) event for ``POST /webhooks/github``."""
    try:
        secrets = _webhook_secrets()
    except SettingsError as exc:
        logger.error("webhook secret not configured", extra={"error": str(exc)})
        return Receipt(503, {"error": f"codeloop is not configured: {exc}"})
    try:
        body = decode_body(event.get("body"), bool(event.get("isBase64Encoded")))
        envelope, payload = parse_delivery(event.get("headers"), body, secrets)
    except WebhookRejected as rejected:
        return refuse(rejected)
    return accept(envelope, payload, body, route(envelope))


def refuse(rejected: WebhookRejected) -> Receipt:
    """The answer to a delivery that is refused before anything of it is stored."""
    metrics.add_metric(name="WebhookRejected", unit="Count", value=1)
    logger.info("webhook rejected", extra={"status": rejected.status, "reason": rejected.message})
    return Receipt(rejected.status, {"error": rejected.message})


def accept(
    envelope: DeliveryEnvelope,
    payload: dict[str, Any],
    body: bytes,
    decision: Route,
    *,
    source: str = "github",
) -> Receipt:
    """Store a verified delivery, then queue it when it is acted on (GitHub's and Linear's alike)."""
    if b"\\u0000" in body:  # jsonb cannot hold NUL; GitHub never sends it, a forger with the secret might
        payload = json.loads(body.replace(b"\\u0000", b"\\ufffd"))
    bind(correlation_id=envelope.delivery_id)
    if decision == "act":  # the queue's client, created while the delivery is stored (a cold start)
        aws.prepare("sqs")
    try:
        stored = _store(
            envelope,
            payload,
            DeliveryStatus.QUEUED if decision == "act" else DeliveryStatus.IGNORED,
            hashlib.sha256(body).digest(),
            source,
        )
    except psycopg.OperationalError as exc:  # down, silent or out of connections: answer now
        metrics.add_metric(name="WebhookDatabaseUnavailable", unit="Count", value=1)
        logger.error("database unavailable; delivery refused with 503", extra={"error": type(exc).__name__})
        return Receipt(503, {"error": DATABASE_UNAVAILABLE, "delivery_id": envelope.delivery_id})
    if stored is None:
        logger.info("duplicate delivery", extra={"event": envelope.event})
        return Receipt(200, {"status": "duplicate", "delivery_id": envelope.delivery_id})
    if decision == "ping":
        return Receipt(200, {"status": "pong", "delivery_id": envelope.delivery_id})
    if decision == "ignore":
        logger.info("ignored", extra={"event": envelope.event, "action": envelope.action})
        return Receipt(202, {"status": "ignored", "delivery_id": envelope.delivery_id})
    queued = send_delivery(envelope)
    if not queued:
        with transaction(correlation_id=envelope.delivery_id) as conn:
            delivery_rows.unqueue(conn, envelope.delivery_id)
    return Receipt(202, {"status": "queued" if queued else "accepted", "delivery_id": envelope.delivery_id})


def _store(
    envelope: DeliveryEnvelope,
    payload: dict[str, Any],
    status: DeliveryStatus,
    body_sha256: bytes,
    source: str,
) -> dict[str, Any] | None:
    """The stored delivery's row, or None for a duplicate: a known id, or a known body under a new id
    (the id is not signed, so a replayed body must not count as new). One statement, committed on
    its own: a delivery's row is audited from its first change of status, not its insert."""
    with autocommitted(wait=front_wait()) as conn:
        return delivery_rows.insert(
            conn,
            delivery_id=envelope.delivery_id,
            event=envelope.event,
            action=envelope.action,
            installation_id=envelope.installation_id,
            repository_id=envelope.repository_id,
            repository_full_name=envelope.repository_full_name,
            payload=payload,
            status=status,
            body_sha256=body_sha256,
            source=source,
        )


def dedup_id(delivery_id: str) -> str:
    if len(delivery_id) <= MAX_DEDUP_ID:
        return delivery_id
    return hashlib.sha256(delivery_id.encode()).hexdigest()


def enqueue_delivery(envelope: DeliveryEnvelope, replay: ReplayRequest | None = None) -> bool:
    """Send a stored 'received' delivery (the sweeper's, a replay's) and mark it queued; False
    leaves it 'received' for the sweeper."""
    if not send_delivery(envelope, replay):
        return False
    with transaction(correlation_id=envelope.delivery_id) as conn:
        delivery_rows.mark_queued(conn, envelope.delivery_id)
    return True


def send_delivery(envelope: DeliveryEnvelope, replay: ReplayRequest | None = None) -> bool:
    """Put a stored delivery on the events queue; False when the send failed (logged, counted).

    A replay is a message of its own (the queue would drop a second one with the delivery's
    deduplication id), and it says whether its commands are new requests.
    """
    from codeloop.adapters import queues

    message: dict[str, Any] = {
        "delivery_id": envelope.delivery_id,
        "event": envelope.event,
        "action": envelope.action,
    }
    if replay is not None:
        message["replay"] = replay.model_dump()
    message_id = envelope.delivery_id if replay is None else f"{envelope.delivery_id}:replay:{replay.id}"
    try:
        queues.send(
            get_settings().require("events_queue_url"),
            message,
            group_id=envelope.message_group_id,
            dedup_id=dedup_id(message_id),
        )
    except Exception:  # any failure to enqueue: the sweeper sends it later
        logger.exception("enqueue failed; the sweeper will retry", extra={"event": envelope.event})
        metrics.add_metric(name="EnqueueFailed", unit="Count", value=1)
        return False
    return True
