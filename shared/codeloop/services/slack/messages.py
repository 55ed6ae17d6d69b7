"""Each task's one Slack message: posted at its first publish, then edited (``chat.update``).

The channel is looked for once per task, at its first publish: the operator's channel for the
repository (``codeloop slack channel owner/repo '#dev'``), else ``notify.slack.channel`` of
``.github/codeloop.yml``, else the operator's channel for the installation. What was found
(a channel, or none) is stored with the task, so later publishes cost one row read. Without a
bot token nothing at all happens. A Slack failure is logged and never stops the GitHub report:
the next publish renders the message again.
"""

from __future__ import annotations

from codeloop.adapters import slack
from codeloop.db import slack_store
from codeloop.db.pool import transaction
from codeloop.domain.models import Repository, Task
from codeloop.domain.report import TaskView
from codeloop.domain.slack_message import render_message
from codeloop.observability import logger
from codeloop.services.repository_config import load_repo_config


def publish_task_message(task: Task, repository: Repository, view: TaskView) -> None:
    """Post or update ``task``'s message from ``view`` (the PR comment's facts); a no-op without Slack.

    Called by the publisher under the task's publish lock, so one task never gets two messages.
    """
    if not slack.is_configured() or repository.installation_id is None:
        return
    with transaction() as conn:
        known = slack_store.get_message(conn, task.id)
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
            return
        channel_id, ts = slack.post_message(channel, message["text"], message["blocks"])
    except Exception as exc:  # Slack down or refusing: GitHub's report goes on; the next publish retries
        logger.warning("Slack message not written", extra={"task_id": str(task.id), "error": str(exc)[:300]})
        return
    with transaction() as conn:
        slack_store.save_message(conn, task.id, channel_id, ts)


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
