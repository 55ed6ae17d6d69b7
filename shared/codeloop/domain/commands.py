"""Slash-commands, the ``codeloop`` issue label and check-run buttons: what was asked, by whom.

A command is ``/codeloop <command> [text]`` at the start of a line of a comment. The parser
follows how GitHub renders Markdown, so that only what a reader sees as a command is one:
lines in fenced code blocks, indented code blocks, block quotes and HTML comments are not
commands. Matching is ASCII-only and case-insensitive; the text is not Unicode-normalised, so
lookalike characters (fullwidth letters, the Kelvin sign, zero-width joiners) never form a
command. A command word that is not ASCII or not known becomes ``unknown``, answered with help.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from codeloop.domain import markdown as md
from codeloop.domain.repo_config import CONFIG_PATH
from codeloop.domain.webhooks import DeliveryEnvelope

CommandName = Literal["help", "status", "fix", "retry", "validate", "cancel", "config", "unknown"]
Source = Literal["comment", "label", "check_run", "slack"]

PREFIX = "/codeloop"
TRIGGER_LABEL = "codeloop"
MAX_COMMANDS_PER_COMMENT = 10
MAX_ARGS_CHARS = 4000

WORK_COMMANDS: frozenset[str] = frozenset({"fix", "retry", "validate", "cancel"})
# Commands that make work (an agent run, a validation) count against the work rate limits;
# cancel needs the permission too but stops work, so it is never limited.
RATE_LIMITED_WORK: frozenset[str] = frozenset({"fix", "retry", "validate"})
READ_ONLY_COMMANDS: frozenset[str] = frozenset({"help", "status", "config", "unknown"})
PULL_REQUEST_ONLY_COMMANDS: frozenset[str] = frozenset({"validate"})

# Check-run button identifiers (GitHub allows at most 20 characters) -> the command they run.
BUTTONS: dict[str, CommandName] = {"retry": "retry", "fix": "fix", "cancel": "cancel", "validate": "validate"}

# (command, arguments shown in help, what it does)
HELP_ENTRIES: tuple[tuple[str, str, str], ...] = (
    ("fix", " [instructions]", "on a pull request: work on it; on an issue: open a pull request for it"),
    ("retry", "", "run the last task again"),
    ("validate", "", "run this pull request's tests and report"),
    ("cancel", "", "stop the running task"),
    ("status", "", "show the task's state"),
    ("config", "", "show this repository's effective `.github/codeloop.yml`"),
    ("help", "", "show this list"),
)

# none < read < triage < write < maintain < admin; "pull"/"push" are the REST API's old names.
PERMISSION_RANK: dict[str, int] = {
    "none": 0,
    "read": 1,
    "pull": 1,
    "triage": 2,
    "write": 3,
    "push": 3,
    "maintain": 4,
    "admin": 5,
}


class Command(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: CommandName
    args: str = ""
    # For an unknown command, the word as written (for the answer); otherwise the name.
    word: str = ""

    @property
    def starts_work(self) -> bool:
        return self.name in WORK_COMMANDS


# -- parsing --------------------------------------------------------------------------------

# CommonMark: up to three spaces, then three or more backticks or tildes; a backtick fence's
# info string holds no backtick.
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})(.*)", re.ASCII)
_COMMAND = re.compile(r"[ \t]*/codeloop(?:[ \t]+(\S+)(?:[ \t]+(.*))?)?[ \t]*", re.ASCII | re.IGNORECASE)
_LINE_ENDING = re.compile(r"\r\n|\r|\n")


def _indent_columns(line: str) -> int:
    columns = 0
    for ch in line:
        if ch == " ":
            columns += 1
        elif ch == "\t":
            columns += 4 - columns % 4
        else:
            break
    return columns


def _visible_lines(body: str) -> Iterator[str]:
    """The lines of a comment outside code blocks and HTML comments.

    Quoted lines need no rule of their own: they start with ``>``, so no command matches them.
    """
    fence: str | None = None
    in_html_comment = False
    previous_blank = True
    in_indented_code = False
    for line in _LINE_ENDING.split(body):
        blank = not line.strip()
        if fence is not None:
            closing = line.strip(" ")
            if (
                _indent_columns(line) <= 3
                and closing.startswith(fence)
                and not closing.lstrip(fence[0]).strip()
            ):
                fence = None
            # What follows a code block starts a new block, as after a blank line.
            previous_blank = True
            continue
        if in_html_comment:
            in_html_comment = "-->" not in line
            previous_blank = False
            continue
        opening = _FENCE.fullmatch(line)
        if opening and not (opening.group(1)[0] == "`" and "`" in opening.group(2)):
            fence = opening.group(1)
            continue
        indent = _indent_columns(line)
        in_indented_code = not blank and indent >= 4 and (previous_blank or in_indented_code)
        previous_blank = blank
        if in_indented_code or blank:
            continue
        stripped = line.lstrip(" \t")
        if stripped.startswith("<!--"):
            in_html_comment = "-->" not in stripped[4:]
            continue
        yield line


def parse_commands(body: str | None) -> list[Command]:
    """The distinct commands in a comment, in order, at most ``MAX_COMMANDS_PER_COMMENT``."""
    commands: list[Command] = []
    if not body or PREFIX not in body.lower():
        return commands
    for line in _visible_lines(body):
        if "/" not in line:
            continue
        match = _COMMAND.fullmatch(line)
        if match is None:
            continue
        command = _command(match.group(1) or "", (match.group(2) or "").strip())
        if command not in commands:
            commands.append(command)
            if len(commands) == MAX_COMMANDS_PER_COMMENT:
                break
    return commands


def _command(word: str, args: str) -> Command:
    name = word.lower() if word.isascii() else ""
    if not word:
        name = "help"
    if name not in WORK_COMMANDS | READ_ONLY_COMMANDS or name == "unknown":
        return Command(name="unknown", args=args[:MAX_ARGS_CHARS], word=word[:100])
    return Command(name=name, args=args[:MAX_ARGS_CHARS], word=name)  # type: ignore[arg-type]


def new_commands(old_body: str | None, new_body: str | None) -> list[Command]:
    """Commands in an edited comment that it did not hold before (same name and text)."""
    before = set(parse_commands(old_body))
    return [command for command in parse_commands(new_body) if command not in before]


# -- texts ----------------------------------------------------------------------------------


def help_text() -> str:
    lines = ["Here is what I can do; write a command at the start of a line in a comment:", ""]
    lines += [f"- `{PREFIX} {name}{args}`: {what}" for name, args, what in HELP_ENTRIES]
    lines += [
        "",
        f"Adding the `{TRIGGER_LABEL}` label to an issue works like `{PREFIX} fix` there. "
        "Commands that start work need write access to the repository (or what "
        "`.github/codeloop.yml` asks for).",
    ]
    return "\n".join(lines)


def unknown_command_text(command: Command) -> str:
    word = command.word.replace("`", "'")
    return f"I don't know `{PREFIX} {word}`.\n\n{help_text()}"


def no_access_text(user: str, repository: str) -> str:
    """The one refusal from outside GitHub (Slack, Linear) when codeloop will not act on a repository
    for ``user``: word for word the same whether the App is not installed there, codeloop has never
    heard of it, or the linked login lacks the access the command needs, so nobody learns from it
    whether a repository they cannot see has codeloop installed."""
    return (
        f"Sorry {md.person(user)}, I can't do that on {md.code_span(repository, 140)} for you. Either "
        "codeloop is not installed on that repository, or your linked GitHub account doesn't have the "
        "access it takes there (seeing the repository, and for commands that start work, write access "
        "or what the repository asks for). A maintainer of the repository can install codeloop, give "
        "you access, or run the command for you."
    )


def refusal_text(user: str, min_permission: str) -> str:
    return (
        f"Sorry @{user}, commands that start work here need **{min_permission}** access to this "
        "repository. A maintainer can run it for you."
    )


def from_fork(head_repository: str | None, repository: str) -> bool:
    """Whether a pull request's head lives in another repository than ``repository``, or in one
    that is gone (``head_repository`` None: a deleted fork)."""
    return head_repository is None or head_repository.lower() != repository.lower()


def fork_refusal_text(user: str) -> str:
    """Why no work starts on a pull request from a fork while ``validation.forks`` is off."""
    return (
        f"Sorry @{user}, this pull request comes from a fork, and I don't work on forks' code here: "
        "my pull request would carry it onto a branch of this repository, where it would be validated "
        "and run by this repository's own CI, with its secrets. A maintainer can allow it by setting "
        f"`validation.forks: true` in `{CONFIG_PATH}` on the default branch."
    )


def limit_note_text(user: str, what: Literal["work", "replies"], scope: str, retry_at: datetime, now: datetime) -> str:
    """The one note a user over a command rate limit gets: which limit, and when to try again."""
    asked = "commands that start work" if what == "work" else "commands to answer"
    whose = "from you" if scope == "user" else "on this installation"
    minutes = max(1, math.ceil((retry_at - now).total_seconds() / 60))
    return (
        f"Sorry @{user}, I have had more {asked} {whose} than I can take on for now, so I am pausing "
        f"them. You can try again after {retry_at:%H:%M} UTC (in about {minutes} "
        f"minute{'' if minutes == 1 else 's'})."
    )


# -- permissions ----------------------------------------------------------------------------


def permission_allows(user_permission: str | None, min_permission: str) -> bool:
    """Whether ``user_permission`` ranks at least ``min_permission``; unknown names rank lowest."""
    needed = PERMISSION_RANK.get(min_permission.strip().lower())
    if needed is None or needed == 0:
        return False  # a misconfigured or empty threshold lets nobody in, not everybody
    return PERMISSION_RANK.get((user_permission or "").strip().lower(), 0) >= needed


def trusted_reviewers(
    thread_openers: Iterable[str | None], permission_of: Callable[[str], str | None], min_permission: str
) -> list[str]:
    """Who, of those who opened review threads, a fix takes instructions from: whoever has
    ``min_permission``, as for starting work (the requester has it, or could not have asked). A
    thread anyone else opened is a suggestion from outside, not something to address."""
    openers = {login for login in thread_openers if login}
    return sorted(login for login in openers if permission_allows(permission_of(login), min_permission))


def is_stranger(user_permission: str | None) -> bool:
    """No role on the repository beyond reading it (anyone may read a public repository)."""
    return PERMISSION_RANK.get((user_permission or "").strip().lower(), 0) <= PERMISSION_RANK["read"]


def effective_permission(collaborator_permission: dict[str, Any]) -> str:
    """The highest role in a ``GET /repos/{o}/{r}/collaborators/{u}/permission`` answer.

    ``permission`` only says admin/write/read/none (maintain shows as write, triage as read);
    ``role_name`` and ``user.permissions`` carry the finer roles. Custom role names are ignored.
    """
    candidates = [collaborator_permission.get("permission"), collaborator_permission.get("role_name")]
    flags = (collaborator_permission.get("user") or {}).get("permissions") or {}
    if isinstance(flags, dict):
        candidates += [name for name, granted in flags.items() if granted is True]
    best = "none"
    for name in candidates:
        if isinstance(name, str) and PERMISSION_RANK.get(name.lower(), 0) > PERMISSION_RANK[best]:
            best = {"pull": "read", "push": "write"}.get(name.lower(), name.lower())
    return best


def is_bot(sender: Any) -> bool:
    if not isinstance(sender, dict):
        return False
    login = sender.get("login")
    return sender.get("type") == "Bot" or (isinstance(login, str) and login.endswith("[bot]"))


# -- work requests --------------------------------------------------------------------------


class WorkRequest(BaseModel):
    """One thing asked of codeloop, and where and by whom it was asked."""

    model_config = ConfigDict(frozen=True)

    command: Command
    source: Source
    delivery_id: str
    installation_id: int | None
    repository_id: int | None
    repository_full_name: str
    number: int
    is_pull_request: bool
    comment_id: int | None = None
    check_run_id: int | None = None
    check_run_external_id: str | None = None
    on_review_comment: bool = False  # written in a review comment on the diff: review feedback
    requester_login: str
    requester_is_bot: bool
    # Index of the command within its delivery (a comment may hold several).
    position: int = 0
    # The replay that asked for this request to be a new one (``?new_task=true``), if any.
    replay_id: int | None = None
    # The task asked about by id (Slack's `status <task id>`, its buttons); else the thread's latest.
    task_id: UUID | None = None

    @property
    def idempotency_key(self) -> str:
        """Stable across redeliveries and replays (same delivery id) and distinct per command of a
        comment; a replay asked to make a new task is a request of its own."""
        key = f"{self.delivery_id}:{self.position}"
        return key if self.replay_id is None else f"{key}:replay:{self.replay_id}"

    @property
    def unsupported_reason(self) -> str | None:
        """Why this command cannot run here, if it cannot (answered instead of running)."""
        if self.command.name in PULL_REQUEST_ONLY_COMMANDS and not self.is_pull_request:
            return f"`{PREFIX} {self.command.name}` works on a pull request, not on an issue."
        return None


Decision = Literal["allow", "refuse", "ignore"]


def decide(request: WorkRequest, user_permission: str | None, min_permission: str) -> Decision:
    """Bots are ignored (no answer, so bots cannot loop); read-only commands are open to whoever
    can see the thread; commands that start work need ``min_permission``. On GitHub only who
    can see a thread can comment there, so ``user_permission`` may be None for a read-only
    command (no need to ask GitHub); from Slack the linked login must be able to read it."""
    if request.requester_is_bot:
        return "ignore"
    if not request.command.starts_work:
        outside = request.source == "slack"
        return "refuse" if outside and not permission_allows(user_permission, "read") else "allow"
    return "allow" if permission_allows(user_permission, min_permission) else "refuse"


def _where(envelope: DeliveryEnvelope, payload: dict[str, Any]) -> dict[str, Any] | None:
    sender = payload.get("sender")
    login = sender.get("login") if isinstance(sender, dict) else None
    if not envelope.repository_full_name or envelope.number is None or not isinstance(login, str):
        return None
    return {
        "delivery_id": envelope.delivery_id,
        "installation_id": envelope.installation_id,
        "repository_id": envelope.repository_id,
        "repository_full_name": envelope.repository_full_name,
        "number": envelope.number,
        "is_pull_request": envelope.is_pull_request,
        "requester_login": login,
        "requester_is_bot": is_bot(sender),
    }


def label_request(envelope: DeliveryEnvelope, payload: dict[str, Any]) -> WorkRequest | None:
    """The ``codeloop`` label added to an issue: a ``fix`` for the issue by who added it."""
    if envelope.event != "issues" or envelope.action != "labeled":
        return None
    label = payload.get("label")
    name = label.get("name") if isinstance(label, dict) else None
    if not isinstance(name, str) or name.strip().lower() != TRIGGER_LABEL:
        return None
    where = _where(envelope, payload)
    if where is None:
        return None
    return WorkRequest(command=Command(name="fix", word="fix"), source="label", **where)


def requests_from_event(envelope: DeliveryEnvelope, payload: dict[str, Any]) -> list[WorkRequest]:
    """What a delivery asks codeloop to do: comment commands, the label, check-run buttons."""
    if envelope.event in ("issue_comment", "pull_request_review_comment"):
        return _comment_requests(envelope, payload)
    if envelope.event == "issues":
        request = label_request(envelope, payload)
        return [request] if request else []
    if envelope.event == "check_run":
        request = _check_run_request(envelope, payload)
        return [request] if request else []
    return []


def _comment_requests(envelope: DeliveryEnvelope, payload: dict[str, Any]) -> list[WorkRequest]:
    comment = payload.get("comment")
    if not isinstance(comment, dict) or not isinstance(comment.get("body"), str):
        return []
    if envelope.action == "created":
        commands = parse_commands(comment["body"])
    elif envelope.action == "edited":
        changes = payload.get("changes")
        old = changes.get("body") if isinstance(changes, dict) else None
        old_body = old.get("from") if isinstance(old, dict) else None
        if not isinstance(old_body, str):
            return []  # the edit did not touch the body
        commands = new_commands(old_body, comment["body"])
    else:
        return []
    where = _where(envelope, payload)
    if where is None or not commands:
        return []
    comment_id = comment.get("id")
    comment_id = comment_id if isinstance(comment_id, int) and not isinstance(comment_id, bool) else None
    return [
        WorkRequest(
            command=command,
            source="comment",
            comment_id=comment_id,
            on_review_comment=envelope.event == "pull_request_review_comment",
            position=index,
            **where,
        )
        for index, command in enumerate(commands)
    ]


def _check_run_request(envelope: DeliveryEnvelope, payload: dict[str, Any]) -> WorkRequest | None:
    if envelope.action == "requested_action":
        action = payload.get("requested_action")
        identifier = action.get("identifier") if isinstance(action, dict) else None
        name = BUTTONS.get(identifier) if isinstance(identifier, str) else None
    elif envelope.action == "rerequested":
        name, identifier = "retry", "retry"
    else:
        return None
    if name is None:
        return None
    where = _where(envelope, payload)
    if where is None:
        return None
    check_run = payload.get("check_run")
    check_run = check_run if isinstance(check_run, dict) else {}
    run_id = check_run.get("id")
    external_id = check_run.get("external_id")
    return WorkRequest(
        command=Command(name=name, word=str(identifier)),
        source="check_run",
        check_run_id=run_id if isinstance(run_id, int) and not isinstance(run_id, bool) else None,
        check_run_external_id=external_id if isinstance(external_id, str) and external_id else None,
        **where,
    )
