"""The ``/codeloop`` slash command and the message buttons, from Slack: the HTTP front.

``POST /webhooks/slack/commands`` and ``/webhooks/slack/interactions``: verify
Slack's v0 signature and timestamp (401 and nothing stored otherwise), answer ``help`` and a
command that cannot be read at once, else store the delivery (deduplicated like GitHub's, by
Slack's ``trigger_id`` and the body's hash) and put it on the events queue, and acknowledge
with an ephemeral line: Slack wants an answer within 3 seconds. Light to import (no GitHub
client): the work is :mod:`codeloop.services.intake.slack_requests`, on the events queue.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal
from urllib.parse import parse_qsl

import psycopg

from codeloop.adapters import slack
from codeloop.domain.commands import PREFIX
from codeloop.domain.models import DeliveryStatus
from codeloop.domain.slack import SlackAsk, SlackUsage, button_ask, help_text, mrkdwn, parse_slack_command
from codeloop.domain.webhooks import DeliveryEnvelope, WebhookRejected, decode_body, lower_headers
from codeloop.observability import bind, logger, metrics
from codeloop.services.intake.receiver import Receipt, enqueue_delivery, store_delivery
from codeloop.settings import SettingsError

Kind = Literal["command", "interaction"]
COMMAND_EVENT = "slack_command"
INTERACTION_EVENT = "slack_interaction"
SOURCE = "slack"
MAX_BODY_BYTES = 1024 * 1024


def ephemeral(text: str) -> Receipt:
    """A 200 whose body Slack shows only to who asked."""
    return Receipt(200, {"response_type": "ephemeral", "text": mrkdwn(text)})


# -- the front --------------------------------------------------------------------------------------


def receive_slack(kind: Kind, event: dict[str, Any]) -> Receipt:
    """Handle one API Gateway (payload 2.0) event for a Slack route."""
    try:
        body = decode_body(event.get("body"), bool(event.get("isBase64Encoded")))
        if len(body) > MAX_BODY_BYTES:
            raise WebhookRejected(413, "the body is larger than Slack sends")
        slack.verify_request(lower_headers(event.get("headers")), body)
    except SettingsError as exc:
        logger.error("Slack signing secret not configured", extra={"error": str(exc)})
        return Receipt(503, {"error": f"codeloop is not configured for Slack: {exc}"})
    except (WebhookRejected, slack.SlackRejected) as rejected:
        metrics.add_metric(name="WebhookRejected", unit="Count", value=1)
        logger.info("Slack request rejected", extra={"status": rejected.status, "reason": rejected.message})
        return Receipt(rejected.status, {"error": rejected.message})
    try:
        form = dict(parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=100))
        form.pop("token", None)  # Slack's old verification token: never stored
        if kind == "command":
            payload, ask = form, parse_slack_command(form.get("text", ""))
            if ask.command.name == "help":
                return ephemeral(help_text())
        else:
            payload = json.loads(form.get("payload") or "")
            payload.pop("token", None)
            ask = button_ask(payload)
    except SlackUsage as usage:
        return ephemeral(str(usage))
    except (UnicodeDecodeError, ValueError, AttributeError, TypeError):
        return Receipt(400, {"error": "the body is not a Slack command or interaction"})
    if ask is None:
        logger.info("ignored: not a codeloop button")
        return Receipt(200, {})
    return _accept(kind, payload, ask, hashlib.sha256(body).digest())


def _accept(kind: Kind, payload: dict[str, Any], ask: SlackAsk, body_sha256: bytes) -> Receipt:
    trigger = str(payload.get("trigger_id") or "")[:100]
    envelope = DeliveryEnvelope(
        event=COMMAND_EVENT if kind == "command" else INTERACTION_EVENT,
        action=ask.command.name,
        delivery_id=f"slack:{trigger or body_sha256.hex()}",
        repository_full_name=ask.repository,
        number=ask.number,
    )
    bind(correlation_id=envelope.delivery_id)
    try:
        stored = store_delivery(envelope, payload, DeliveryStatus.RECEIVED, body_sha256, source=SOURCE)
    except psycopg.OperationalError as exc:
        metrics.add_metric(name="WebhookDatabaseUnavailable", unit="Count", value=1)
        logger.error("database unavailable; Slack request refused", extra={"error": type(exc).__name__})
        return ephemeral("Sorry, codeloop cannot take requests right now. Please try again in a minute.")
    if stored is not None:
        enqueue_delivery(envelope)  # a failed enqueue leaves the row to the sweeper
    if kind == "interaction":
        return Receipt(200, {})
    return ephemeral(f"On it: `{PREFIX} {ask.command.name}`; I'll answer here.")
