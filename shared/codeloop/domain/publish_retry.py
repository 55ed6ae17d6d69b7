"""The status queue note that writes one channel of a task's report (Slack or Linear) once that
channel's wait is over: the channel rate-limited codeloop, or (Linear) a call failed and is tried
again after a short backoff. Pure, so the status syncer can read the note without the services."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Literal

RETRY_EVENT = "publish_retry"
# A note queued before notes named their channel (Slack was the only one then).
SLACK_RETRY_EVENT = "slack_retry"
Channel = Literal["slack", "linear"]


def retry_note(task_id: str, channel: Channel) -> dict[str, str]:
    return {"task_id": task_id, "event": RETRY_EVENT, "channel": channel}


def note_channel(message: dict[str, object]) -> str | None:
    """The channel a retry note is for (None: the message is not a retry note)."""
    if message.get("event") == SLACK_RETRY_EVENT:
        return "slack"
    if message.get("event") == RETRY_EVENT:
        return str(message.get("channel"))
    return None


def retry_at(now: datetime, seconds: float) -> datetime:
    """When a wait of ``seconds`` (rounded up to the second) starting ``now`` is over."""
    return now + timedelta(seconds=math.ceil(seconds))


def seconds_left(retry_at: datetime | None, now: datetime) -> float:
    """How much of a wait is left (0: none, or no wait at all)."""
    return max(0.0, (retry_at - now).total_seconds()) if retry_at else 0.0
