"""Queue pollers that call the real handlers the way Lambda's SQS event source mapping does.

Batches of up to ``batch_size`` records in Lambda's event shape; the handler's
``batchItemFailures`` stay on the queue (visible again after the visibility timeout) while
the rest are deleted; the queue's redrive policy moves a message to its dead-letter queue after
a few receives. (moto's own SQS→Lambda trigger would need Docker and has no partial failures.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from codeloop.observability import logger

Handler = Callable[[dict[str, Any], Any], Any]


def to_lambda_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


class QueuePoller(threading.Thread):
    def __init__(
        self,
        name: str,
        queue_url: str,
        handler: Handler,
        stopping: threading.Event | None = None,
        batch_size: int = 10,
        wait_seconds: int = 1,
    ):
        super().__init__(name=f"poller-{name}", daemon=True)
        self.queue_url = queue_url
        self.handler = handler
        self.stopping = stopping or threading.Event()
        self.batch_size = batch_size
        self.wait_seconds = wait_seconds

    def run(self) -> None:
        from codeloop.adapters.aws import client

        sqs = client("sqs")
        arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        region = arn.split(":")[3]
        while not self.stopping.is_set():
            try:
                self.poll_once(sqs, arn, region, self.wait_seconds)
            except Exception:  # keep polling: one bad batch must not stop the local stack
                logger.exception("poller failed", extra={"queue": self.name})
                self.stopping.wait(1)

    def poll_once(self, sqs: Any, arn: str, region: str, wait_seconds: int = 1) -> int:
        """Receive one batch, hand it to the handler, delete what it did not report failed."""
        messages = sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        event = {"Records": [to_lambda_record(message, arn, region) for message in messages]}
        try:
            result = self.handler(event, None) or {}
            failed = {item["itemIdentifier"] for item in result.get("batchItemFailures", [])}
        except Exception:  # the whole invocation failed: Lambda retries the whole batch
            logger.exception("handler failed; the batch will be received again", extra={"queue": self.name})
            return len(messages)
        done = [message for message in messages if message["MessageId"] not in failed]
        if done:  # one request per batch, as Lambda's poller deletes
            sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        return len(messages)


class Schedule(threading.Thread):
    """Invoke a handler with a fixed event every ``seconds``, as an EventBridge schedule does."""

    def __init__(
        self, name: str, seconds: float, handler: Handler, event: dict[str, Any], stopping: threading.Event
    ):
        super().__init__(name=f"schedule-{name}", daemon=True)
        self.seconds = seconds
        self.handler = handler
        self.event = event
        self.stopping = stopping

    def run(self) -> None:
        while not self.stopping.wait(self.seconds):
            try:
                self.handler(self.event, None)
            except Exception:
                logger.exception("scheduled run failed", extra={"schedule": self.name})
