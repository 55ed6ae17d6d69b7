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

from codeloop.adapters import slack
from codeloop.domain.commands import PREFIX
from codeloop.domain.slack import SlackAsk, SlackUsage, button_ask, help_text, mrkdwn, parse_slack_command
from codeloop.domain.webhooks import DeliveryEnvelope, WebhookRejected, decode_body, lower_headers
from codeloop.observability import logger
from codeloop.services.intake.receiver import Receipt, accept, refuse
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
    except WebhookRejected as rejected:
        return refuse(rejected)
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
    return _accept(kind, payload, ask, body)


def _accept(kind: Kind, payload: dict[str, Any], ask: SlackAsk, body: bytes) -> Receipt:
    """Store and queue the request as the receiver does a GitHub delivery; answer as Slack wants."""
    # Slack's trigger_id names a retry of the same request; its hash does so without showing it
    # (the delivery id is listed to task-API keys).
    trigger = str(payload.get("trigger_id") or "").encode()
    envelope = DeliveryEnvelope(
        event=COMMAND_EVENT if kind == "command" else INTERACTION_EVENT,
        action=ask.command.name,
        delivery_id=f"slack:{hashlib.sha256(trigger or body).hexdigest()}",
        repository_full_name=ask.repository,
        number=ask.number,
    )
    # jsonb cannot hold NUL, which a form can carry (%00)
    payload = json.loads(json.dumps(payload).replace("\\u0000", "\\ufffd"))
    if accept(envelope, payload, body, "act", source=SOURCE).status == 503:
        return ephemeral("Sorry, codeloop cannot take requests right now. Please try again in a minute.")
    if kind == "interaction":
        return Receipt(200, {})
    return ephemeral(f"On it: `{PREFIX} {ask.command.name}`; I'll answer here.")
