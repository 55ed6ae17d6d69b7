"""Keep a task's Linear issue up to date: one comment edited in place, the pull request attached,
and, when the task ends green and the mapping names a done state, the issue moved there.

Called by the publisher under the task's publish lock, after GitHub is written; it does nothing
for a task that did not come from Linear. What the issue already shows is remembered in
``linear_issue_tasks``, so an unchanged comment is not sent again.

A Linear failure never stops GitHub's report, and is not left to a next publish that may never
come (a task's last publish is its last): the wait is stored with the issue and a retry note for
"linear" goes on the status queue (``services/publish_retry.py``, the mechanism Slack uses). The
wait is Linear's own when it rate-limits (``LinearRateLimited``), else ``RETRY_BACKOFF_SECONDS``.
Until it is over, publishes leave the issue alone; then the note brings the issue in step with
the task's state at that moment (the publisher's ``publish_after_wait``). What a failed call did
not write is not remembered as shown, so it is sent once the retry goes through, and nothing
twice. After ``MAX_FAILED_TRIES`` failures in a row no further note is queued (logged as an
error); the task's next publish, if any, still tries.
"""

from __future__ import annotations

from datetime import UTC, datetime

from codeloop.adapters import linear
from codeloop.db import linear_store
from codeloop.db.pool import transaction
from codeloop.domain.lifecycle import TaskStatus
from codeloop.domain.linear import LinearIssueTask
from codeloop.domain.linear_report import render_comment
from codeloop.domain.models import Task
from codeloop.domain.publish_retry import retry_at
from codeloop.domain.report import TaskView
from codeloop.observability import logger
from codeloop.services.publish_retry import queue_retry_note

RETRY_BACKOFF_SECONDS = 30.0  # after a failure that is not Linear's rate limit
MAX_FAILED_TRIES = 5


def publish_to_linear(task: Task, view: TaskView) -> None:
    """Bring the task's Linear issue in step with ``view`` (nothing for a task not from Linear)."""
    with transaction() as conn:
        issue = linear_store.issue_task(conn, task.id)
    if issue is None:
        return
    if issue.wait_seconds(datetime.now(UTC)) > 0:
        logger.info("Linear update waits; the retry note writes it", extra={"task_id": str(task.id)})
        return
    try:
        _publish(task, view, issue)
    except linear.LinearError as exc:
        _retry_later(task, issue, exc)
        return
    if issue.retry_at is not None or issue.failed_tries:
        with transaction() as conn:
            linear_store.publish_went_through(conn, task.id)


def seconds_to_wait(task_id: str) -> float:
    """How long the task's Linear issue is still to be left alone (0: not at all, or no issue)."""
    with transaction() as conn:
        issue = linear_store.issue_task(conn, task_id)
    return issue.wait_seconds(datetime.now(UTC)) if issue else 0.0


def _retry_later(task: Task, issue: LinearIssueTask, failure: linear.LinearError) -> None:
    """Store the wait (Linear's, or the backoff) and queue the note that updates the issue after it."""
    extra = {"task_id": str(task.id), "error": str(failure)}
    if issue.failed_tries + 1 >= MAX_FAILED_TRIES:
        logger.error("Linear issue not updated; no more retries, the next publish tries again", extra=extra)
        return
    wait = failure.retry_after if isinstance(failure, linear.LinearRateLimited) else RETRY_BACKOFF_SECONDS
    until = retry_at(datetime.now(UTC), wait)
    with transaction() as conn:
        linear_store.defer_publish(conn, task.id, until)
    logger.warning("Linear issue not updated; a retry note updates it later", extra=extra)
    queue_retry_note(str(task.id), "linear", until)


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
