"""SQS: send a message (ids, not documents) to one of codeloop's queues; hand a received one back
for later."""

from __future__ import annotations

import json
import math
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


# SQS's longest visibility timeout (12 hours).
MAX_VISIBILITY_SECONDS = 12 * 60 * 60


def hand_back_later(queue_arn: str, receipt_handle: str, seconds: float) -> int:
    """Hide a received message for ``seconds`` (whole, at least one): reported as a batch item
    failure, SQS delivers it again only then. Returns the seconds set. A FIFO queue has no
    per-message delay; this is how one of its messages waits without a Lambda sleeping."""
    _arn, _partition, _service, _region, account, name = queue_arn.split(":", 5)
    sqs = client("sqs")
    url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
    hidden = min(MAX_VISIBILITY_SECONDS, max(1, math.ceil(seconds)))
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=receipt_handle, VisibilityTimeout=hidden)
    return hidden


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
