"""The ``/codeloop`` slash command and the message buttons, from Slack.

At the front (``POST /webhooks/slack/commands`` and ``/webhooks/slack/interactions``): verify
Slack's v0 signature and timestamp (401 and nothing stored otherwise), answer ``help`` and a
command that cannot be read at once, else store the delivery (deduplicated like GitHub's, by
Slack's ``trigger_id`` and the body's hash) and put it on the events queue, and acknowledge
with an ephemeral line: Slack wants an answer within 3 seconds.

On the events queue (:func:`handle_slack_delivery`): the Slack user acts as the GitHub login
linked to it (``codeloop link slack``), and the request goes through the same code as a comment
on GitHub (:func:`codeloop.services.intake.requests.handle_requests`: the permission rule, the
rate limits, the task actions), answering through the command's ``response_url``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal
from urllib.parse import parse_qsl

import psycopg

from codeloop.adapters import github, slack
from codeloop.db import identities_store, store
from codeloop.db.pool import transaction
from codeloop.domain.commands import PREFIX, WorkRequest
from codeloop.domain.models import DeliveryStatus, IdentityProvider, Task
from codeloop.domain.slack import (
    SlackAsk,
    SlackUsage,
    button_command,
    help_text,
    mrkdwn,
    parse_slack_command,
    unlinked_text,
)
from codeloop.domain.webhooks import DeliveryEnvelope, WebhookRejected, decode_body, lower_headers
from codeloop.observability import bind, logger, metrics
from codeloop.services.intake.receiver import Receipt, enqueue_delivery, store_delivery
from codeloop.services.intake.requests import handle_requests
from codeloop.settings import SettingsError

Kind = Literal["command", "interaction"]
COMMAND_EVENT = "slack_command"
INTERACTION_EVENT = "slack_interaction"
EVENTS = frozenset({COMMAND_EVENT, INTERACTION_EVENT})
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
            ask = _button(payload)
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


def _button(payload: dict[str, Any]) -> SlackAsk | None:
    """The ask of a click on one of a task message's buttons (None: not ours)."""
    if payload.get("type") != "block_actions" or not payload.get("actions"):
        return None
    action = payload["actions"][0]
    command = button_command(str(action.get("action_id") or ""))
    if command is None:
        return None
    return SlackAsk(command=command, task_id=str(action.get("value") or ""))


# -- on the events queue ----------------------------------------------------------------------------


def handle_slack_delivery(envelope: DeliveryEnvelope, payload: dict[str, Any]) -> list[str]:
    """Do what a stored Slack command or button click asks; answers go to its ``response_url``."""
    if envelope.event == COMMAND_EVENT:
        user_id, response_url = str(payload.get("user_id") or ""), str(payload.get("response_url") or "")
        ask = parse_slack_command(str(payload.get("text") or ""))
    else:
        user_id = str((payload.get("user") or {}).get("id") or "")
        response_url = str(payload.get("response_url") or "")
        ask = _button(payload)
        if ask is None:
            return ["ignored: not a codeloop button"]

    def say(text: str) -> None:
        slack.respond(response_url, mrkdwn(text))

    with transaction() as conn:
        identity = identities_store.get(conn, IdentityProvider.SLACK, user_id)
    if identity is None:
        say(unlinked_text(user_id))
        return ["refused: unlinked Slack user"]
    request, facts = _work_request(envelope, ask, identity.github_login, say)
    if request is None:
        return ["no such thread or task"]
    outcomes = handle_requests([request], facts, say=say)
    _tell_what_was_done(outcomes, request, say)
    return outcomes


def _work_request(
    envelope: DeliveryEnvelope, ask: SlackAsk, login: str, say: Any
) -> tuple[WorkRequest | None, dict[str, Any]]:
    """The request as if written on the thread by ``login``, and the thread's facts (the issue,
    the repository) that a comment's webhook would carry."""
    with transaction() as conn:
        task: Task | None = store.get_task(conn, ask.task_id) if ask.task_id else None
        if ask.task_id and task is None:
            say(f"I know no codeloop task `{ask.task_id}`.")
            return None, {}
        repository = (
            store.get_repository(conn, task.repository_id) if task else store.get_repository_by_name(conn, ask.repository or "")
        )
    number = (task.issue_number or task.pr_number) if task else ask.number
    if repository is None or repository.installation_id is None or number is None:
        say(f"codeloop is not installed on `{ask.repository}`, so I can't work there.")
        return None, {}
    try:
        issue = github.get_issue(repository.installation_id, repository.full_name, number)
    except github.GitHubNotFound:
        say(f"There is no issue or pull request {repository.full_name}#{number}.")
        return None, {}
    request = WorkRequest(
        command=ask.command,
        source="slack",
        delivery_id=envelope.delivery_id,
        installation_id=repository.installation_id,
        repository_id=repository.id,
        repository_full_name=repository.full_name,
        number=number,
        is_pull_request="pull_request" in issue,
        requester_login=login,
        requester_is_bot=False,
        task_id=ask.task_id,
    )
    return request, {"issue": issue, "repository": repository.model_dump(mode="json")}


def _tell_what_was_done(outcomes: list[str], request: WorkRequest, say: Any) -> None:
    """On GitHub the task's comment is the answer; in Slack, say what started or stopped."""
    where = f"{request.repository_full_name}#{request.number}"
    for outcome in outcomes:
        verb, _, task_id = outcome.partition(" ")
        done = {"started": "Started", "retry": "Retrying", "cancel": "Cancelled", "validate": "Validating again"}
        if verb in done and task_id:
            say(f"{done[verb]} task `{task_id}` on {where}. Its status comment there stays up to date.")
