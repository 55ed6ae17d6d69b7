"""Queue the note that writes one channel of a task's report after that channel's wait
(``domain/publish_retry.py``). The note goes in a message group of its own per channel and task,
so the task's other notes do not wait behind it; the status syncer hands it back, hidden, until
the wait is over (the publisher's ``publish_after_wait``), and no Lambda sleeps."""

from __future__ import annotations

from datetime import datetime

from codeloop.domain.publish_retry import Channel, retry_note
from codeloop.observability import logger
from codeloop.settings import get_settings


def queue_retry_note(task_id: str, channel: Channel, retry_at: datetime) -> None:
    """Queue the note; if the queue refuses, it is logged (the task's next publish after the wait
    writes the channel instead)."""
    from codeloop.adapters import queues

    try:
        queues.send(
            get_settings().require("status_queue_url"),
            retry_note(task_id, channel),
            group_id=f"{channel}:{task_id}",
            dedup_id=f"{channel}:{task_id}:{retry_at.timestamp():.0f}",
        )
    except Exception:
        logger.exception("the retry note was not queued", extra={"task_id": task_id, "channel": channel})
