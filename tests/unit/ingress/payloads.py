"""Real GitHub example payloads (vendored in tests/fixtures/github) and signed deliveries."""

from __future__ import annotations

import json
from typing import Any

from codeloop.domain.webhooks import DeliveryEnvelope, sign
from tests.fixtures import WEBHOOK_EXAMPLES

SECRET = "it's a secret to everybody"


def load(name: str) -> dict[str, Any]:
    """A fresh copy of ``<event>/<file>`` from the fixtures, for a test to change."""
    return json.loads((WEBHOOK_EXAMPLES / name).read_text())


def envelope_for(name: str, payload: dict[str, Any] | None = None) -> tuple[DeliveryEnvelope, dict]:
    """The envelope of a fixture (or of a changed copy of it) as the receiver would build it."""
    payload = load(name) if payload is None else payload
    event = name.split("/")[0]
    return DeliveryEnvelope.from_delivery(event, f"delivery-{event}", payload), payload


def signed_headers(body: bytes, event: str, delivery: str = "72d3162e-cc78-11e3-81ab-4c9367dc0958") -> dict:
    """Headers as API Gateway HTTP API passes them on (lower-cased names)."""
    return {
        "x-github-event": event,
        "x-github-delivery": delivery,
        "x-hub-signature-256": sign(body, SECRET),
        "content-type": "application/json",
        "user-agent": "GitHub-Hookshot/044aadd",
    }
