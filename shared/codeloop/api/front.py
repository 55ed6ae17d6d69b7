"""Dispatch an API Gateway HTTP API (payload 2.0) event to the webhook receiver or the task API.

The webhook path is the hot one (GitHub waits at most 10 s, and cold starts count), so it is
routed first, before the task API's heavier router is imported.
"""

from __future__ import annotations

import json
from typing import Any

WEBHOOK_PATH = "/webhooks/github"
DASHBOARD_PREFIX = "/app"
LINEAR_WEBHOOK_PATH = "/webhooks/linear"
# Slack's slash command and its interactivity (buttons) URLs.
SLACK_PATHS = {"/webhooks/slack/commands": "command", "/webhooks/slack/interactions": "interaction"}
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
    if path in (WEBHOOK_PATH, LINEAR_WEBHOOK_PATH) or path in SLACK_PATHS:
        method = event.get("requestContext", {}).get("http", {}).get("method", "")
        if method != "POST":
            return response(405, {"error": "method not allowed: webhooks are POSTed"}, {"allow": "POST"})
        if path in SLACK_PATHS:
            from codeloop.services.intake.slack import receive_slack

            receipt = receive_slack(SLACK_PATHS[path], event)  # type: ignore[arg-type]
            return response(receipt.status, receipt.body)
        if path == LINEAR_WEBHOOK_PATH:
            from codeloop.services.intake.linear_receiver import receive_linear_webhook as receive
        else:
            from codeloop.services.intake.receiver import receive_webhook as receive

        receipt = receive(event)
        return response(receipt.status, receipt.body)
    if path == DASHBOARD_PREFIX or path.startswith(DASHBOARD_PREFIX + "/"):
        from codeloop.api.dashboard import handle as dashboard

        return dashboard(event)
    from codeloop.api.tasks import app

    return app.resolve(event, context)
