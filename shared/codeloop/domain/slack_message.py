"""Each task's one Slack message, from the PR comment's view (:class:`codeloop.domain.report.TaskView`).

Pure. The request, the attempts and the outcome are the comment's own Markdown pieces, turned
into mrkdwn. Text from outside arrives already made safe by :mod:`codeloop.domain.markdown`
(escaped, mentions inert); Slack's control sequences (``<!channel>``, ``<@U…>``) need a ``<``,
which that escaping never lets through.
"""

from __future__ import annotations

from typing import Any

from codeloop.domain import markdown as md
from codeloop.domain.lifecycle import TERMINAL, TaskStatus
from codeloop.domain.report import TaskView, attempt_lines, outcome_of, request_line
from codeloop.domain.slack import ACTION_PREFIX, BUTTONS, escape, mrkdwn

# Slack's limits: a section's text, a message's fallback text.
SECTION_CHARS = 3_000
TEXT_CHARS = 3_000


def render_message(view: TaskView) -> dict[str, Any]:
    """``text`` (the notification's fallback) and ``blocks`` for ``chat.postMessage``/``chat.update``."""
    task = view.task
    outcome = outcome_of(view)
    headline = mrkdwn(outcome.headline)
    if task.status not in TERMINAL and task.attempt:
        headline += f" (attempt {task.attempt}" + (f" of {view.max_attempts})" if view.max_attempts else ")")
    number = task.issue_number or task.pr_number
    thread = view.repository + (f"#{number}" if number else "")
    thread_url = view.repository_url.rstrip("/") + (f"/issues/{number}" if number else "")
    title = escape(md.plain(task.title, 200))
    blocks: list[dict[str, Any]] = [
        _section(f"{outcome.emoji} *codeloop: {headline}*\n<{thread_url}|{escape(thread)}> {title}"),
        _context(mrkdwn(request_line(view))),
    ]
    lines = [mrkdwn(line).replace("- ", "• ", 1) for line in attempt_lines(view)]
    if lines:
        blocks.append(_section("*Attempts*\n" + "\n".join(md.fit_lines(lines, SECTION_CHARS - 100, "attempts"))))
    label = "Outcome" if task.status in TERMINAL else "Now"
    blocks.append(_section(f"*{label}:* {outcome.emoji} {headline}"))
    buttons = _buttons(task.status, str(task.id))
    if buttons:
        blocks.append({"type": "actions", "block_id": f"codeloop:{task.id}", "elements": buttons})
    text = f"{outcome.emoji} codeloop: {mrkdwn(outcome.headline)} · {thread} {title}"
    return {"text": text[:TEXT_CHARS], "blocks": blocks}


def _section(text: str) -> dict[str, Any]:
    if len(text) > SECTION_CHARS:
        text = text[: SECTION_CHARS - 1] + "…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:SECTION_CHARS]}]}


def _buttons(status: TaskStatus, task_id: str) -> list[dict[str, Any]]:
    """Retry for a failed or cancelled task, Cancel for a running one (what the task actions allow)."""
    if status in (TaskStatus.FAILED, TaskStatus.CANCELLED):
        names = ["retry"]
    elif status not in TERMINAL:
        names = ["cancel"]
    else:
        names = []
    return [
        {
            "type": "button",
            "action_id": f"{ACTION_PREFIX}{name}",
            "text": {"type": "plain_text", "text": BUTTONS[name]},
            "value": task_id,
            **({"style": "primary"} if name == "retry" else {"style": "danger"}),
        }
        for name in names
    ]
