"""Each task's one Slack message: posted at its first publish, then edited (``chat.update``).

The channel is looked for once per task, at its first publish: the operator's channel for the
repository (``codeloop slack channel owner/repo '#dev'``), else ``notify.slack.channel`` of
``.github/codeloop.yml``, else the operator's channel for the installation. What was found
(a channel, or none) is stored with the task, so later publishes cost one row read. Without a
bot token nothing at all happens. A Slack failure is logged and never stops the GitHub report:
the next publish renders the message again.

When Slack rate-limits the message (429), the wait it gives (``Retry-After``) is stored with the
message and a retry note for "slack" goes on the status queue (``services/publish_retry.py``, the
same note Linear uses). Until the wait is over, publishes leave Slack alone and the status syncer
hands the note back to the queue, hidden for the rest of the wait (no Lambda sleeps); then the
note writes the message from the task's state at that moment (the publisher's
``publish_after_wait``). A refused call posted nothing, so the message is posted once, and
edited in place afterwards.
"""

from __future__ import annotations

from datetime import UTC, datetime

from codeloop.adapters import slack
from codeloop.db import slack_store
from codeloop.db.pool import transaction
from codeloop.domain.models import Repository, Task
from codeloop.domain.publish_retry import retry_at
from codeloop.domain.report import TaskView
from codeloop.domain.slack_message import render_message
from codeloop.observability import logger
from codeloop.services.publish_retry import queue_retry_note
from codeloop.services.repository_config import load_repo_config


def publish_task_message(task: Task, repository: Repository, view: TaskView) -> None:
    """Post or update ``task``'s message from ``view`` (the PR comment's facts); a no-op without Slack.

    Called by the publisher under the task's publish lock, so one task never gets two messages.
    """
    if not slack.is_configured() or repository.installation_id is None:
        return
    with transaction() as conn:
        known = slack_store.get_message(conn, task.id)
    if known is not None and known.wait_seconds(datetime.now(UTC)) > 0:
        logger.info("Slack asked to wait; the retry note writes the message", extra={"task_id": str(task.id)})
        return
    channel = known.channel if known else _channel_for(repository)
    if channel is None:
        if known is None:
            with transaction() as conn:
                slack_store.save_message(conn, task.id, None, None)
        return
    message = render_message(view)
    try:
        if known is not None and known.ts:
            slack.update_message(channel, known.ts, message["text"], message["blocks"])
            channel_id, ts = channel, known.ts
        else:
            channel_id, ts = slack.post_message(channel, message["text"], message["blocks"])
    except slack.SlackRateLimited as limited:
        _retry_after(task, channel, limited)
        return
    except Exception as exc:  # Slack down or refusing: GitHub's report goes on; the next publish retries
        logger.warning("Slack message not written", extra={"task_id": str(task.id), "error": str(exc)[:300]})
        return
    if known is None or (known.channel, known.ts, known.retry_at) != (channel_id, ts, None):
        with transaction() as conn:
            slack_store.save_message(conn, task.id, channel_id, ts)


def _retry_after(task: Task, channel: str, limited: slack.SlackRateLimited) -> None:
    """Remember Slack's wait and queue the note that writes the message after it."""
    until = retry_at(datetime.now(UTC), limited.retry_after)
    with transaction() as conn:
        slack_store.defer_message(conn, task.id, channel, until)
    logger.warning("Slack rate-limited the message", extra={"task_id": str(task.id), "error": str(limited)})
    queue_retry_note(str(task.id), "slack", until)


def seconds_to_wait(task_id: str) -> float:
    """How long Slack still wants the task's message left alone (0: not at all)."""
    with transaction() as conn:
        known = slack_store.get_message(conn, task_id)
    return known.wait_seconds(datetime.now(UTC)) if known else 0.0


def _channel_for(repository: Repository) -> str | None:
    assert repository.installation_id is not None
    with transaction() as conn:
        operator = slack_store.operator_channels(conn, repository.full_name, repository.installation_id)
    if "repository" in operator:
        return operator["repository"]
    config, _problem = load_repo_config(repository.installation_id, repository.full_name)
    if config.notify.slack is not None:
        return config.notify.slack.channel
    return operator.get("installation")
