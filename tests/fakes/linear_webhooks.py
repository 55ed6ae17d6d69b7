"""Linear's side of a webhook: deliveries from the fixtures, stamped now and signed as Linear signs."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

from codeloop.api.front import handle
from codeloop.domain.linear import sign
from tests.fixtures import LINEAR_WEBHOOKS

SECRET = "linear-webhook-secret"


def delivery(name: str, **changes: Any) -> dict[str, Any]:
    """A fixture delivery (``webhooks/<name>.json``) sent now, with top-level fields changed."""
    payload = copy.deepcopy(json.loads((LINEAR_WEBHOOKS / f"{name}.json").read_text()))
    payload["webhookTimestamp"] = int(time.time() * 1000)
    payload.update(changes)
    return payload


def post(payload: dict[str, Any], *, secret: str = SECRET, signature: str | None = None) -> dict[str, Any]:
    """POST a delivery to ``/webhooks/linear`` through the HTTP front; status and JSON answer."""
    body = json.dumps(payload).encode()
    event = {
        "version": "2.0",
        "rawPath": "/webhooks/linear",
        "headers": {
            "content-type": "application/json; charset=utf-8",
            "linear-delivery": "5a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
            "linear-event": payload.get("type", ""),
            "linear-signature": signature if signature is not None else sign(body, secret),
        },
        "requestContext": {"http": {"method": "POST", "path": "/webhooks/linear"}},
        "body": body.decode(),
        "isBase64Encoded": False,
    }
    result = handle(event, None)
    return {"status": result["statusCode"], "body": json.loads(result["body"])}
