"""Slack: the ``/codeloop`` slash command's text and buttons, its answers, and Slack's mrkdwn.

Pure, and light to import (the HTTP front parses commands with it). The command's words are the
GitHub parser's (:func:`codeloop.domain.commands.parse_commands`); Slack only adds where:
``owner/repo#123``, a pull request or issue URL, or a task id. Answers are written in the
Markdown the GitHub side uses and turned into Slack's mrkdwn by :func:`mrkdwn`. Each task's
message is :mod:`codeloop.domain.slack_message`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from codeloop.domain.commands import HELP_ENTRIES, PREFIX, Command, parse_commands
from codeloop.domain.publish_retry import seconds_left

# Button action ids (Slack echoes them back in block_actions) -> the command they run.
ACTION_PREFIX = "codeloop:"
BUTTONS: dict[str, str] = {"retry": "Retry", "cancel": "Cancel"}
# Commands that need a target, and those whose target may be a task id rather than a thread.
THREAD_COMMANDS = frozenset({"fix", "validate", "config"})
TASK_COMMANDS = frozenset({"status", "retry", "cancel"})

_THREAD = re.compile(r"^([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))/([A-Za-z0-9._-]{1,100})#(\d{1,9})$")
_URL = re.compile(
    r"^https?://[^/\s]+/([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))/([A-Za-z0-9._-]{1,100})/(?:pull|issues)/(\d{1,9})"
    r"(?:[/?#]\S*)?$"
)
_SLACK_LINK = re.compile(r"^<([^|>]+)(?:\|[^>]*)?>$")  # Slack may send a URL as <url> or <url|label>


class SlackChannel(BaseModel):
    """A channel the operator set for a repository (target owner/name) or an installation (its id)."""

    model_config = ConfigDict(frozen=True)

    scope: str
    target: str
    channel: str
    updated_at: datetime


class SlackMessage(BaseModel):
    """A task's one message; ``channel`` None: no channel was set when the task started.
    ``retry_at``: Slack rate-limited it; no call for it before then."""

    model_config = ConfigDict(frozen=True)

    task_id: UUID
    channel: str | None = None
    ts: str | None = None
    retry_at: datetime | None = None

    def wait_seconds(self, now: datetime) -> float:
        """How long Slack still wants this message left alone (0: not at all)."""
        return seconds_left(self.retry_at, now)


class SlackAsk(BaseModel):
    """What a slash command asks: the command, and the thread (owner/name#number) or task it is about."""

    model_config = ConfigDict(frozen=True)

    command: Command
    repository: str | None = None
    number: int | None = None
    task_id: UUID | None = None


class SlackUsage(ValueError):
    """A slash command that cannot be read; the message says how to write it (mrkdwn)."""


def parse_target(word: str) -> tuple[str, int] | UUID | None:
    """``owner/repo#123``, an issue or pull request URL, or a task id; None for anything else."""
    linked = _SLACK_LINK.match(word)
    word = linked.group(1) if linked else word
    for pattern in (_THREAD, _URL):
        match = pattern.match(word)
        if match:
            return f"{match.group(1)}/{match.group(2)}", int(match.group(3))
    try:
        return UUID(word)
    except ValueError:
        return None


def parse_slack_command(text: str) -> SlackAsk:
    """The ask in a ``/codeloop`` slash command's text (what follows ``/codeloop``)."""
    first, _, more = (text or "").strip().partition("\n")
    commands = parse_commands(f"{PREFIX} {first}")
    command = commands[0] if commands else Command(name="help", word="help")
    if command.name == "help":
        return SlackAsk(command=command)
    if command.name == "unknown":
        raise SlackUsage(f"I don't know `{PREFIX} {_code(command.word)}`.\n\n{help_text()}")
    target_word, _, rest = command.args.partition(" ")
    target = parse_target(target_word) if target_word else None
    if target is None or (isinstance(target, UUID) and command.name not in TASK_COMMANDS):
        raise SlackUsage(f"Tell me where: {_usage(command.name)}")
    instructions = "\n".join(part for part in (rest.strip(), more.strip()) if part)
    command = command.model_copy(update={"args": instructions})
    if isinstance(target, UUID):
        return SlackAsk(command=command, task_id=target)
    return SlackAsk(command=command, repository=target[0], number=target[1])


def _usage(name: str) -> str:
    if name in TASK_COMMANDS:
        return f"`{PREFIX} {name} owner/repo#123` (or a pull request URL, or a task id)."
    if name == "fix":
        return f"`{PREFIX} fix owner/repo#123 [instructions]` (an issue or a pull request)."
    return f"`{PREFIX} {name} owner/repo#123`."


def _code(text: str) -> str:
    return escape(text.replace("`", "'")[:100])


def help_text() -> str:
    lines = ["Here is what I can do from Slack:", ""]
    for name, args, what in HELP_ENTRIES:
        where = "" if name == "help" else " owner/repo#123"
        lines.append(f"• `{PREFIX} {name}{where}{args}`: {what}")
    lines += [
        "",
        "Instead of `owner/repo#123` you may paste the issue or pull request URL; "
        "`status`, `retry` and `cancel` also take a task id. Commands that start work need "
        "write access to the repository, through the GitHub account your Slack user is linked to.",
    ]
    return "\n".join(lines)


def unlinked_text(user_id: str) -> str:
    return (
        "I don't know which GitHub account is yours, so I can't act for you yet. Ask a codeloop "
        f"operator to link you: `codeloop link slack {_code(user_id)} <your-github-login>`. "
        "Then try again: you can do here what that account may do on the repository."
    )


def escape(text: str) -> str:
    """Slack's own escaping: what it must not read as a link, a mention or a command."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)
_LINK = re.compile(r"(?<!\\)\[((?:\\.|[^\[\]\\])*)\]\(([^)\s]+)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ESCAPED = re.compile(r"\\([\\`*_\[\]|~#])")


def mrkdwn(markdown: str) -> str:
    """GitHub Markdown built by :mod:`codeloop.domain.markdown` helpers, as Slack mrkdwn.

    Code spans keep their text (escaped for Slack); links become ``<url|label>``; ``**bold**``
    becomes ``*bold*``; Markdown's backslash escapes are dropped (the text is HTML-escaped
    already, which is Slack's escaping too).
    """
    parts = []
    last = 0
    for span in _CODE_SPAN.finditer(markdown):
        parts.append(_prose(markdown[last : span.start()]))
        parts.append(f"`{escape(span.group(2).strip())}`")
        last = span.end()
    parts.append(_prose(markdown[last:]))
    return "".join(parts)


def _slack_link(match: re.Match[str]) -> str:
    label = _ESCAPED.sub(r"\1", match.group(1)).replace("|", "/")
    return f"<{match.group(2)}|{label}>"


def _prose(text: str) -> str:
    text = _LINK.sub(_slack_link, text)
    text = _BOLD.sub(r"*\1*", text)
    return _ESCAPED.sub(r"\1", text)


def button_ask(payload: dict[str, Any]) -> SlackAsk | None:
    """The ask of a click on one of a task message's buttons (None: not one of ours)."""
    actions = payload.get("actions") if payload.get("type") == "block_actions" else None
    if not actions or not isinstance(actions, list) or not isinstance(actions[0], dict):
        return None
    command = button_command(str(actions[0].get("action_id") or ""))
    if command is None:
        return None
    return SlackAsk(command=command, task_id=str(actions[0].get("value") or ""))


def button_command(action_id: str) -> Command | None:
    """The command a button of ours runs (None: not one of ours)."""
    name = action_id.removeprefix(ACTION_PREFIX) if action_id.startswith(ACTION_PREFIX) else ""
    if name not in BUTTONS:
        return None
    return Command(name=name, word=name)  # type: ignore[arg-type]
