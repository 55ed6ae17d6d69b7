"""Replay a stored delivery: it takes the path a received delivery takes, the events queue.

Its effects are idempotent: the commands it holds are the same requests as the first time, so
``/codeloop fix`` finds the task it already made (one task per request). ``new_task`` makes them
new requests, keyed by the replay. Every replay is a row in the audit log naming who asked, and
that row's id names the replay on the queue.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from codeloop.db import deliveries_store, store
from codeloop.db.pool import transaction
from codeloop.domain.delivery_log import ReplayRequest, reaches_delivery
from codeloop.domain.models import ApiKey, DeliveryStatus, Scope
from codeloop.domain.webhooks import DeliveryEnvelope, route
from codeloop.observability import logger


class ReplayOutcome(BaseModel):
    replay_id: int
    delivery_id: str
    new_task: bool
    # queued: on the events queue; accepted: stored for the sweeper to queue (the send failed);
    # ignored: codeloop takes no action on this event, as when it first arrived.
    status: Literal["queued", "accepted", "ignored"]


def replay_delivery(
    delivery_id: str,
    *,
    actor: str,
    scope: Scope | None,
    new_task: bool = False,
    correlation_id: str | None = None,
) -> ReplayOutcome | None:
    """Queue a stored delivery again; None when there is none the ``scope`` reaches (None: any)."""
    from codeloop.services.intake.receiver import enqueue_delivery

    with transaction(actor=actor, correlation_id=correlation_id) as conn:
        delivery = deliveries_store.get(conn, delivery_id, lock=True)
        if delivery is None or (scope is not None and not reaches_delivery(scope, delivery)):
            return None
        envelope = DeliveryEnvelope.from_delivery(
            delivery.event, delivery_id, store.get_delivery_payload(conn, delivery_id)
        )
        acted_on = route(envelope) == "act"
        details = {"new_task": new_task, "key_id": str(scope.id) if isinstance(scope, ApiKey) else None, "acted_on": acted_on}
        record = deliveries_store.record_replay(
            conn, delivery, actor=actor, details=details, correlation_id=correlation_id
        )
        if acted_on:  # 'received' until it is on the queue: the sweeper queues it if the send fails
            store.set_delivery_status(conn, delivery_id, DeliveryStatus.RECEIVED)
    logger.info("delivery replayed", extra={"delivery_id": delivery_id, "replay_id": record.id})
    outcome = ReplayOutcome(replay_id=record.id, delivery_id=delivery_id, new_task=new_task, status="ignored")
    if not acted_on:
        return outcome
    queued = enqueue_delivery(envelope, replay=ReplayRequest(id=record.id, new_task=new_task))
    return outcome.model_copy(update={"status": "queued" if queued else "accepted"})
