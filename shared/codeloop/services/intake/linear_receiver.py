"""``POST /webhooks/linear``: verify, store, queue, answer; kept light for the HTTP front's cold start.

The ``Linear-Signature`` and the ``webhookTimestamp`` (a minute either way) are checked before
anything is stored; the delivery is then stored (source ``linear``; a known body is a duplicate)
and queued in a group per Linear issue, like a GitHub delivery. ``services/intake/linear.py``
acts on it.
"""

from __future__ import annotations

import time
from typing import Any

from codeloop.domain.linear import parse_delivery
from codeloop.domain.webhooks import DeliveryEnvelope, WebhookRejected, decode_body
from codeloop.observability import logger
from codeloop.services.intake.receiver import Receipt, accept, refuse
from codeloop.settings import SettingsError, get_settings


def receive_linear_webhook(event: dict[str, Any]) -> Receipt:
    """Handle one API Gateway (payload 2.0) event for ``POST /webhooks/linear``."""
    try:
        secret = get_settings().secret("linear_webhook_secret")
    except SettingsError as exc:
        logger.error("Linear webhook secret not configured", extra={"error": str(exc)})
        return Receipt(503, {"error": f"codeloop is not configured for Linear: {exc}"})
    try:
        body = decode_body(event.get("body"), bool(event.get("isBase64Encoded")))
        found, payload = parse_delivery(event.get("headers"), body, secret, time.time() * 1000)
    except WebhookRejected as rejected:
        return refuse(rejected)
    envelope = DeliveryEnvelope(
        event=found.type,
        action=found.action,
        delivery_id=found.delivery_id,
        group=f"linear:{found.issue_id or found.webhook_id}",
    )
    return accept(envelope, payload, body, "act" if found.acted_on else "ignore", source="linear")
