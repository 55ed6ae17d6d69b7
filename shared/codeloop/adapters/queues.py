"""SQS: send a message (ids, not documents) to one of codeloop's queues."""

from __future__ import annotations

import json
from typing import Any

from codeloop.adapters.aws import client


def send(
    queue_url: str, body: dict[str, Any], *, group_id: str | None = None, dedup_id: str | None = None
) -> str:
    """Send one message; FIFO queues need ``group_id`` (ordering) and ``dedup_id`` (5-minute dedupe)."""
    params: dict[str, Any] = {"QueueUrl": queue_url, "MessageBody": json.dumps(body, separators=(",", ":"))}
    if group_id is not None:
        params["MessageGroupId"] = group_id
    if dedup_id is not None:
        params["MessageDeduplicationId"] = dedup_id
    return client("sqs").send_message(**params)["MessageId"]
