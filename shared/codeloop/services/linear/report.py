"""Keep a task's Linear issue up to date: one comment edited in place, the pull request attached,
and, when the task ends green and the mapping names a done state, the issue moved there.

Called by the publisher under the task's publish lock, after GitHub is written; it does nothing
for a task that did not come from Linear. What the issue already shows is remembered in
``linear_issue_tasks``, so an unchanged comment is not sent again. A Linear failure is logged
and leaves GitHub's report alone: the next publish renders the same state and tries again.
"""

from __future__ import annotations

from codeloop.adapters import linear
from codeloop.db import linear_store
from codeloop.db.pool import transaction
from codeloop.domain.lifecycle import TaskStatus
from codeloop.domain.linear import LinearIssueTask
from codeloop.domain.linear_report import render_comment
from codeloop.domain.models import Task
from codeloop.domain.report import TaskView
from codeloop.observability import logger


def publish_to_linear(task: Task, view: TaskView) -> None:
    """Bring the task's Linear issue in step with ``view`` (nothing for a task not from Linear)."""
    with transaction() as conn:
        issue = linear_store.issue_task(conn, task.id)
    if issue is None:
        return
    try:
        _publish(task, view, issue)
    except linear.LinearError as exc:
        logger.warning("Linear issue not updated; the next publish tries again", extra={"error": str(exc)})


def _publish(task: Task, view: TaskView, issue: LinearIssueTask) -> None:
    body = render_comment(view, issue)
    if issue.comment_id is None:
        comment_id = linear.create_comment(issue.issue_id, body)
        _remember(task, comment_id=comment_id, comment_body=body)
    elif body != issue.comment_body:
        linear.update_comment(issue.comment_id, body)
        _remember(task, comment_body=body)
    if task.pr_url and task.pr_url != issue.attachment_url:
        linear.link_url(issue.issue_id, task.pr_url, f"Pull request #{task.pr_number}: {task.title}"[:200])
        _remember(task, attachment_url=task.pr_url)
    if task.status == TaskStatus.COMPLETED and issue.done_state and not issue.moved_to_state:
        state_id = linear.workflow_state_id(issue.team_id, issue.done_state)
        if state_id is None:
            logger.warning("no such Linear workflow state", extra={"state": issue.done_state})
            return
        linear.move_issue(issue.issue_id, state_id)
        _remember(task, moved_to_state=issue.done_state)


def _remember(task: Task, **shown: str) -> None:
    with transaction() as conn:
        linear_store.record_published(conn, task.id, **shown)


def comment_on_issue(issue_id: str, body: str) -> None:
    """A one-off answer on an issue (an unlinked user, a refusal, help)."""
    linear.create_comment(issue_id, body)
