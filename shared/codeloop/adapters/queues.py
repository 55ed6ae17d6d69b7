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


def depths(queue_url: str) -> dict[str, int | None]:
    """Messages waiting and in flight on a queue, and waiting on its dead-letter queue (None: no DLQ)."""
    sqs = client("sqs")
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "RedrivePolicy"],
    )["Attributes"]
    dead = None
    if redrive := attributes.get("RedrivePolicy"):
        dlq_name = json.loads(redrive)["deadLetterTargetArn"].rsplit(":", 1)[-1]
        dlq_url = sqs.get_queue_url(QueueName=dlq_name)["QueueUrl"]
        dead = int(
            sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])[
                "Attributes"
            ]["ApproximateNumberOfMessages"]
        )
    return {
        "waiting": int(attributes.get("ApproximateNumberOfMessages", 0)),
        "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        "dead_letters": dead,
    }
