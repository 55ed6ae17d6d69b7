"""Linear as a place to ask for work: signed webhooks, what they ask, and what codeloop says back.

Pure functions and models. A delivery is trusted only when its ``Linear-Signature`` (hex
HMAC-SHA256 of the raw body with the webhook's signing secret) matches and its
``webhookTimestamp`` is within a minute of now, so a captured delivery cannot be replayed later.
Work is asked the way it is on GitHub: the ``codeloop`` label added to an issue, or a comment
holding ``/codeloop <command>`` (the same parser, ``domain/commands.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from codeloop.domain import markdown as md
from codeloop.domain.commands import PREFIX, TRIGGER_LABEL, Command, parse_commands
from codeloop.domain.publish_retry import seconds_left
from codeloop.domain.webhooks import (
    MAX_BODY_BYTES,
    WebhookRejected,
    lower_headers,
    parse_payload,
)

SIGNATURE_HEADER = "linear-signature"
TEAM_KEY_PATTERN = r"^[A-Za-z0-9]{1,10}$"  # Linear's team keys, e.g. ENG
PROJECT_PATTERN = r"^[^\x00-\x1f]{0,200}$"  # a project id or name
MAX_CLOCK_SKEW_MS = 60_000
# The resource types codeloop acts on, and the actions.
ACTED_ON: dict[str, frozenset[str]] = {
    "Issue": frozenset({"create", "update"}),
    "Comment": frozenset({"create", "update"}),
}
_HEX = re.compile(r"[0-9a-fA-F]{64}")


class LinearMapping(BaseModel):
    """A Linear team (or one of its projects) mapped to the GitHub repository it asks work of."""

    model_config = ConfigDict(frozen=True)

    team_key: str
    project: str = ""  # a project id or name; '' for the whole team
    repository_full_name: str
    done_state: str | None = None  # the workflow state an issue moves to when its task ends green
    created_at: datetime | None = None
    updated_at: datetime | None = None


class LinearIssueTask(BaseModel):
    """The Linear issue behind a task, and what codeloop keeps on it."""

    model_config = ConfigDict(frozen=True)

    task_id: UUID | None = None
    issue_id: str
    identifier: str
    url: str
    team_id: str
    done_state: str | None = None
    comment_id: str | None = None
    comment_body: str | None = None
    attachment_url: str | None = None
    moved_to_state: str | None = None
    retry_at: datetime | None = None  # an update failed: no call for the issue before then
    failed_tries: int = 0  # failed updates since the last one that went through

    def wait_seconds(self, now: datetime) -> float:
        """How long the issue is still to be left alone (0: not at all)."""
        return seconds_left(self.retry_at, now)


# -- the webhook ----------------------------------------------------------------------------------


def sign(body: bytes, secret: str) -> str:
    """The ``Linear-Signature`` value Linear sends for ``body``: hex HMAC-SHA256, no prefix."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str | None, secret: str) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` (constant-time; an empty secret never does)."""
    if not secret or not header or not _HEX.fullmatch(header.strip()):
        return False
    return hmac.compare_digest(sign(body, secret), header.strip().lower())


class LinearEnvelope(BaseModel):
    """What the receiver needs of a verified delivery."""

    model_config = ConfigDict(frozen=True)

    type: str
    action: str
    webhook_id: str
    delivery_id: str
    issue_id: str | None = None

    @property
    def acted_on(self) -> bool:
        return self.action in ACTED_ON.get(self.type, frozenset())


def parse_delivery(
    headers: Mapping[str, Any] | None, body: bytes, secret: str, now_ms: float
) -> tuple[LinearEnvelope, dict[str, Any]]:
    """Check a delivery: size (413), signature (401, before anything of the body is read), JSON
    (400), then its timestamp (400 when more than a minute from ``now_ms``)."""
    if len(body) > MAX_BODY_BYTES:
        raise WebhookRejected(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    if not verify_signature(body, lower_headers(headers).get(SIGNATURE_HEADER), secret):
        raise WebhookRejected(401, "the Linear-Signature header is missing or does not match")
    payload = parse_payload(body)
    stamp = payload.get("webhookTimestamp")
    if not isinstance(stamp, int | float) or isinstance(stamp, bool):
        raise WebhookRejected(400, "the delivery has no webhookTimestamp")
    skew = (stamp - now_ms) / 1000
    if abs(skew) * 1000 > MAX_CLOCK_SKEW_MS:
        raise WebhookRejected(
            400,
            f"stale delivery: its webhookTimestamp is {abs(skew):.0f} s in the "
            f"{'past' if skew < 0 else 'future'}; codeloop accepts deliveries sent within "
            f"{MAX_CLOCK_SKEW_MS // 1000} s of its clock",
        )
    kind, action, webhook_id = payload.get("type"), payload.get("action"), payload.get("webhookId")
    if not all(isinstance(value, str) and value for value in (kind, action, webhook_id)):
        raise WebhookRejected(400, "the delivery needs type, action and webhookId")
    body_sha = hashlib.sha256(body).hexdigest()
    envelope = LinearEnvelope(
        type=kind,
        action=action,
        webhook_id=webhook_id[:100],
        delivery_id=f"linear:{webhook_id[:60]}:{body_sha[:40]}",
        issue_id=_issue_id(kind, payload.get("data")),
    )
    return envelope, payload


def _issue_id(kind: str, data: Any) -> str | None:
    if not isinstance(data, dict):
        return None
    value = data.get("id") if kind == "Issue" else data.get("issueId")
    return value if isinstance(value, str) and value else None


# -- what a delivery asks -------------------------------------------------------------------------

Trigger = Literal["label", "comment"]


class LinearRequest(BaseModel):
    """One thing asked in Linear: who (a Linear user), on which issue, what."""

    model_config = ConfigDict(frozen=True)

    trigger: Trigger
    command: Command
    issue_id: str
    actor_id: str
    actor_name: str
    actor_email: str | None = None  # Linear's, verified by its sign-in
    comment_id: str | None = None
    position: int = 0


def requests_from_payload(payload: dict[str, Any]) -> list[LinearRequest]:
    """The requests in a Linear delivery: the label newly on an issue, or a comment's commands.

    Only people ask: a delivery whose actor is not a user (an integration, an OAuth app, a bot
    comment) asks nothing, so codeloop's own comments never trigger it.
    """
    data, actor = payload.get("data"), payload.get("actor")
    if not isinstance(data, dict) or not isinstance(actor, dict) or actor.get("type") != "user":
        return []
    actor_id, name = actor.get("id"), actor.get("name")
    if not isinstance(actor_id, str) or not actor_id or data.get("botActor"):
        return []
    email = actor.get("email")
    who = {
        "actor_id": actor_id,
        "actor_name": name if isinstance(name, str) and name else actor_id,
        "actor_email": email if isinstance(email, str) and "@" in email else None,
    }
    kind, action = payload.get("type"), payload.get("action")
    if kind == "Issue" and _label_added(action, data, payload.get("updatedFrom")):
        return [
            LinearRequest(
                trigger="label", command=Command(name="fix", word="fix"), issue_id=data["id"], **who
            )
        ]
    if kind == "Comment" and isinstance(data.get("issueId"), str) and isinstance(data.get("body"), str):
        before = _previous_body(action, payload.get("updatedFrom"))
        if before is False:
            return []
        old = set(parse_commands(before)) if isinstance(before, str) else set()
        commands = [command for command in parse_commands(data["body"]) if command not in old]
        return [
            LinearRequest(
                trigger="comment",
                command=command,
                issue_id=data["issueId"],
                comment_id=data.get("id") if isinstance(data.get("id"), str) else None,
                position=index,
                **who,
            )
            for index, command in enumerate(commands)
        ]
    return []


def _label_added(action: Any, data: dict[str, Any], updated_from: Any) -> bool:
    """The ``codeloop`` label is on the issue and was not before (created with it, or added)."""
    if not isinstance(data.get("id"), str):
        return False
    labels = data.get("labels")
    ours = [
        label.get("id")
        for label in (labels if isinstance(labels, list) else [])
        if isinstance(label, dict) and str(label.get("name", "")).strip().lower() == TRIGGER_LABEL
    ]
    if not ours:
        return False
    if action == "create":
        return True
    if action != "update" or not isinstance(updated_from, dict) or "labelIds" not in updated_from:
        return False
    before = updated_from.get("labelIds")
    return isinstance(before, list) and not any(label in before for label in ours)


def _previous_body(action: Any, updated_from: Any) -> str | Literal[False] | None:
    """A comment's text before this delivery: None for a new one, False when the edit left it alone."""
    if action == "create":
        return None
    if action == "update" and isinstance(updated_from, dict) and isinstance(updated_from.get("body"), str):
        return updated_from["body"]
    return False


# -- the issue as a task --------------------------------------------------------------------------

_CRITERIA_HEADING = re.compile(
    r"^\s{0,3}(?:#{1,6}\s*|\*\*)?\s*acceptance criteria\s*:?\s*(?:\*\*)?\s*:?\s*$", re.IGNORECASE
)
_HEADING = re.compile(r"^\s{0,3}(?:#{1,6}\s+\S|\*\*[^*]+\*\*\s*:?\s*$)")
_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(?:\[[ xX]\]\s+)?(.*\S)\s*$")


def acceptance_criteria(description: str | None) -> list[str]:
    """The items under an "Acceptance criteria" heading of a Linear description (Linear has no
    field of its own for them), up to the next heading; the text stays untrusted."""
    items: list[str] = []
    inside = False
    for line in (description or "").splitlines():
        if _CRITERIA_HEADING.match(line):
            inside = True
            continue
        if inside and _HEADING.match(line):
            break
        if inside and (item := _ITEM.match(line)):
            items.append(item.group(1)[:500])
    return items[:50]


def issue_text(description: str | None, criteria: list[str]) -> str:
    """The issue's text for the prompt's fenced issue block: the description, then its criteria."""
    text = (description or "").strip() or "(no description)"
    if criteria:
        text += "\n\nAcceptance criteria:\n" + "\n".join(f"- {item}" for item in criteria)
    return text


def linear_reference(task_metadata: dict[str, Any]) -> str:
    """The line a task's pull request description carries so Linear's own GitHub integration links
    the two (``Fixes ENG-123``); empty for a task that did not come from Linear."""
    identifier = _linear_identifier(task_metadata)
    return f"Fixes {identifier}" if identifier else ""


def body_linking_linear_issue(body: str | None, task_metadata: dict[str, Any]) -> str | None:
    """A pull request description with the task's Linear reference appended; None when it needs no
    change (the task did not come from Linear, or the description already names its issue)."""
    identifier = _linear_identifier(task_metadata)
    if identifier is None:
        return None
    text = (body or "").rstrip()
    if re.search(rf"(?<![A-Za-z0-9]){re.escape(identifier)}(?!\d)", text, re.IGNORECASE):
        return None
    reference = linear_reference(task_metadata)
    return f"{text}\n\n{reference}" if text else reference


def _linear_identifier(task_metadata: dict[str, Any]) -> str | None:
    linear = task_metadata.get("linear")
    identifier = linear.get("identifier") if isinstance(linear, dict) else None
    return identifier if isinstance(identifier, str) and _IDENTIFIER.fullmatch(identifier) else None


_IDENTIFIER = re.compile(r"[A-Za-z0-9]{1,10}-\d{1,9}")


# -- what codeloop says in Linear ----------------------------------------------------------------


def unlinked_user_text(name: str, user_id: str) -> str:
    return (
        f"Hi {md.inline(name, 80)}, I don't know your GitHub account yet, so I can't start work for you. "
        "Ask a codeloop operator to link it:\n\n"
        f"```\ncodeloop link linear {user_id} <your-github-login>\n```\n\n"
        f"Then the `{TRIGGER_LABEL}` label and `{PREFIX} fix` work for you here, with the permission "
        "your GitHub account has on the repository."
    )


def unmapped_team_text(team_key: str) -> str:
    return (
        f"This Linear team ({md.code_span(team_key, 20)}) is not connected to a GitHub repository yet, so I "
        "can't start work here. Ask a codeloop operator to connect it:\n\n"
        f"```\ncodeloop linear map {team_key} owner/repo\n```"
    )


def github_only_text(command: Command) -> str:
    return (
        f"`{PREFIX} {command.name}` works on the pull request on GitHub; here I take `{PREFIX} fix`, "
        f"`{PREFIX} retry`, `{PREFIX} cancel`, `{PREFIX} status` and `{PREFIX} help`."
    )
