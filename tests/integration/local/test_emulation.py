"""The local AWS emulation, patched for a flat cost per request (codeloop/local/moto_speed.py),
keeps SQS's semantics: delays, visibility, FIFO groups and deduplication, attribute counts."""

from __future__ import annotations

import threading
import time

import pytest
from botocore.exceptions import ClientError

from codeloop.adapters.aws import client


@pytest.fixture
def sqs(aws):
    return client("sqs")


def test_delayed_and_in_flight_messages_are_not_received_until_their_time(sqs):
    url = sqs.create_queue(QueueName="speed-standard", Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=1)
    sqs.send_message(QueueUrl=url, MessageBody="now")
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in first] == ["now"]
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessagesDelayed"] == "1"
    assert counts["ApproximateNumberOfMessagesNotVisible"] == "1"
    time.sleep(1.2)
    again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2)["Messages"]
    assert sorted(m["Body"] for m in again) == ["later", "now"]


def test_fifo_deduplicates_and_holds_a_group_while_a_message_of_it_is_in_flight(sqs):
    url = sqs.create_queue(
        QueueName="speed-content.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    for body in ("one", "one", "two"):
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId="pr-1")
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
    assert [m["Body"] for m in first] == ["one"]
    assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)  # group in flight

    got: list[str] = []
    waiting = threading.Thread(
        target=lambda: got.extend(
            m["Body"] for m in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10).get("Messages", [])
        )
    )
    waiting.start()  # a long poll waiting on the held group gets the next message once it is freed
    time.sleep(0.5)  # the long poll is under way before the group is freed
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])
    waiting.join()
    assert got == ["two"]


def test_fifo_without_content_deduplication_needs_a_deduplication_id(sqs):
    url = sqs.create_queue(QueueName="speed-plain.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    with pytest.raises(ClientError):
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g")
    sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="d")
    sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="d")
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "1"
    assert attributes["ContentBasedDeduplication"] == "false"
