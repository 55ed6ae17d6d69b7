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


def test_a_message_is_deleted_by_any_receipt_handle_it_had_and_only_by_one(sqs):
    url = sqs.create_queue(QueueName="speed-handles", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="kept")
    sqs.send_message(QueueUrl=url, MessageBody="gone")
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    old = next(m["ReceiptHandle"] for m in received if m["Body"] == "gone")
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)  # new receipt handles for both
    with pytest.raises(ClientError) as invalid:
        sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-receipt-handle")
    assert invalid.value.response["Error"]["Code"] == "ReceiptHandleIsInvalid"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=old)  # an earlier handle of the message, as moto allows
    sqs.delete_message(QueueUrl=url, ReceiptHandle=old)  # deleting again is no error
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]] == ["kept"]


@pytest.fixture
def flat_moto(monkeypatch):
    """moto's SQS in this process with the flat-cost patches, undone after the test."""
    from moto import backends
    from moto.core import responses
    from moto.sqs import models

    from codeloop.local import moto_patches

    monkeypatch.setattr(backends, "list_of_moto_modules", backends.list_of_moto_modules)
    monkeypatch.setattr(models, "camelcase_to_underscores", models.camelcase_to_underscores)
    monkeypatch.setattr(responses, "camelcase_to_underscores", responses.camelcase_to_underscores)
    for owner, names in {
        models.Message: ("visible", "delayed", "mark_received"),
        models.Queue: ("messages", "attributes", "wait_for_messages", "delete_message", "add_message"),
        models.SQSBackend: ("is_message_valid_based_on_retention_period", "receive_message"),
    }.items():
        for name in names:
            monkeypatch.setattr(owner, name, vars(owner)[name])
    moto_patches.keep_costs_flat()
    backend = models.SQSBackend("us-east-1", "123456789012")
    return backend, models


def test_sends_and_deletes_do_not_ask_every_message_of_a_deep_queue(flat_moto, monkeypatch):
    backend, models = flat_moto
    backend.create_queue("deep.fifo", FifoQueue="true")
    for index in range(300):
        backend.send_message("deep.fifo", "{}", group_id="pr-1", deduplication_id=f"d-{index}")
    [first] = backend.receive_message("deep.fifo", 1, 0, 30)
    asked = []
    had = models.Message.had_receipt_handle
    monkeypatch.setattr(models.Message, "had_receipt_handle", lambda m, handle: asked.append(m) or had(m, handle))
    backend.delete_message("deep.fifo", first.receipt_handle)
    backend.send_message("deep.fifo", "{}", group_id="pr-1", deduplication_id="d-0")  # its id is free again
    backend.send_message("deep.fifo", "{}", group_id="pr-1", deduplication_id="d-1")  # a duplicate: dropped
    assert asked == []  # moto asked each of the 300, twice, for one delete
    assert len(backend.get_queue("deep.fifo")._messages) == 300
