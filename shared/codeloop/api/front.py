"""Dispatch an API Gateway HTTP API (payload 2.0) event to the webhook receiver or the task API.

The webhook path is the hot one (GitHub waits at most 10 s, and cold starts count), so it is
routed first, before the task API's heavier router is imported.
"""

from __future__ import annotations

import json
from typing import Any

WEBHOOK_PATH = "/webhooks/github"
# What the first delivery needs (verify, store, enqueue): warmed before a SnapStart snapshot and
# before a local front process listens; everything else is imported when used.
FIRST_DELIVERY_MODULES = ("codeloop.services.intake.receiver",)
FIRST_DELIVERY_CLIENTS = ("sqs",)


def response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", **(headers or {})},
        "body": json.dumps(body),
    }


def handle(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    path = event.get("rawPath") or ""
    if path == WEBHOOK_PATH:
        method = event.get("requestContext", {}).get("http", {}).get("method", "")
        if method != "POST":
            return response(405, {"error": "method not allowed: webhooks are POSTed"}, {"allow": "POST"})
        from codeloop.services.intake.receiver import receive_webhook

        receipt = receive_webhook(event)
        return response(receipt.status, receipt.body)
    from codeloop.api.tasks import app

    return app.resolve(event, context)
