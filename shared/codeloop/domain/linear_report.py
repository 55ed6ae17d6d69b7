"""The task's one comment on its Linear issue: the facts of the PR comment (``domain/report.py``'s
view and outcome), in Linear's Markdown. Apart from ``domain/linear.py`` so the webhook front does
not load the report renderers."""

from __future__ import annotations

import re

from codeloop.domain import markdown as md
from codeloop.domain.linear import LinearIssueTask
from codeloop.domain.report import TaskView, attempt_lines, outcome_of


def render_comment(view: TaskView, issue: LinearIssueTask) -> str:
    """The task's one comment on the Linear issue: the facts of the PR comment, in Linear's Markdown
    (no HTML: a long error folds into Linear's ``+++`` collapsible section)."""
    task = view.task
    outcome = outcome_of(view)
    lines = [
        f"### {outcome.emoji} codeloop: {outcome.headline}",
        "",
        f"{task.type.replace('_', ' ')} for {md.inline(issue.identifier, 40)} in "
        f"{md.link(view.repository, view.repository_url)}"
        + (f", asked by GitHub user {md.person(task.requested_by)}" if task.requested_by else "")
        + f" · task {md.code_span(str(task.id)[:8], 8)}",
    ]
    if task.pr_url:
        lines += [
            "",
            f"**Pull request:** {md.link(f'#{task.pr_number}', task.pr_url) or md.inline(task.pr_url)}",
        ]
    attempts = attempt_lines(view)
    if attempts:
        lines += ["", "**Attempts**", *attempts]
    label = "Outcome" if outcome.kind not in ("queued", "running", "waiting") else "Now"
    lines += ["", f"**{label}:** {outcome.emoji} {outcome.headline}"]
    if outcome.detail:
        lines += ["", _without_html(outcome.detail)]
    return "\n".join(lines) + "\n"


_DETAILS = re.compile(r"<details><summary>(.*?)</summary>\n\n(.*?)\n\n</details>", re.DOTALL)


def _without_html(text: str) -> str:
    return _DETAILS.sub(lambda m: f"+++ {re.sub(r'<[^>]+>', '', m.group(1))}\n\n{m.group(2)}\n\n+++", text)
