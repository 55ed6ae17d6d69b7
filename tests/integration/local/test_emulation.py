"""The local AWS emulation, patched (codeloop/local/moto_patches.py): a task answered before its
heartbeat is set up ends its wait, and the flat-cost patches keep SQS's semantics: delays,
visibility, FIFO groups and deduplication, attribute counts."""

from __future__ import annotations

import threading
import time

import pytest
from botocore.exceptions import ClientError

from codeloop.adapters.aws import client


def test_a_task_answered_before_its_heartbeat_is_set_up_stops_waiting(monkeypatch):
    """The race that left a ValidatePR execution RUNNING for its whole HeartbeatSeconds: the worker
    answered between the task's SendMessage and the engine setting up the heartbeat it waits on."""
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackEndpoint, CallbackOutcomeSuccess

    from codeloop.local import moto_patches

    monkeypatch.setattr(CallbackEndpoint, "setup_heartbeat_endpoint", CallbackEndpoint.setup_heartbeat_endpoint)
    moto_patches.answer_before_heartbeat_ends_the_wait()
    endpoint = CallbackEndpoint("token")
    endpoint.notify(CallbackOutcomeSuccess("token", "{}"))  # the worker's SendTaskSuccess
    heartbeat = endpoint.setup_heartbeat_endpoint(heartbeat_seconds=30)
    assert heartbeat.clear_and_wait() is True  # unpatched: waits 30 s, then False (HeartbeatTimedOut)


def test_a_heartbeat_set_up_before_the_answer_still_waits_for_it(monkeypatch):
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackEndpoint

    from codeloop.local import moto_patches

    monkeypatch.setattr(CallbackEndpoint, "setup_heartbeat_endpoint", CallbackEndpoint.setup_heartbeat_endpoint)
    moto_patches.answer_before_heartbeat_ends_the_wait()
    heartbeat = CallbackEndpoint("token").setup_heartbeat_endpoint(heartbeat_seconds=1)
    assert heartbeat.clear_and_wait() is False  # no answer, no heartbeat: the heartbeat times out


@pytest.fixture
def sqs(aws):
    return client("sqs")


def test_the_emulation_keeps_a_connection_open_across_calls(aws):
    """moto's own server closed every connection after one answer (a TCP connect and a thread per
    AWS call); served by waitress, one connection carries call after call."""
    import http.client
    from urllib.parse import urlsplit

    endpoint = urlsplit(aws["AWS_ENDPOINT_URL"])
    conn = http.client.HTTPConnection(endpoint.hostname, endpoint.port, timeout=10)
    for _ in range(3):
        conn.request("GET", "/moto-api/data.json")
        response = conn.getresponse()
        response.read()
        assert response.status == 200
        assert response.getheader("connection", "").lower() != "close"
    sock = conn.sock
    assert sock is not None  # http.client drops the socket when the server says it will close
    conn.request("GET", "/moto-api/data.json")
    conn.getresponse().read()
    assert conn.sock is sock  # the same connection: nothing was reopened
    conn.close()


def test_long_polls_waiting_at_once_do_not_hold_up_other_calls(sqs):
    """The stack's pollers long-poll up to 20 s each; the emulation answers other calls meanwhile."""
    idle = sqs.create_queue(QueueName="speed-idle")["QueueUrl"]
    busy = sqs.create_queue(QueueName="speed-busy")["QueueUrl"]
    polls = [
        threading.Thread(target=lambda: sqs.receive_message(QueueUrl=idle, WaitTimeSeconds=5))
        for _ in range(40)  # more than the stack's pollers (23)
    ]
    for poll in polls:
        poll.start()
    time.sleep(0.5)  # the long polls are waiting
    sqs.send_message(QueueUrl=busy, MessageBody="now")
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=busy)["Messages"]] == ["now"]
    still_waiting = sum(poll.is_alive() for poll in polls)
    for poll in polls:
        poll.join()
    assert still_waiting == len(polls)  # answered while every long poll was still waiting


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
