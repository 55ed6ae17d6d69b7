"""Every handler logs only its own message's ids and flushes its metrics, as loaded by the local stack."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterator

import pytest

from codeloop.db import store
from codeloop.db.pool import transaction
from codeloop.domain.lifecycle import TaskStatus
from codeloop.domain.models import Installation, NewTask, RepositoryRef
from codeloop.local import handlers
from codeloop.observability import logger
from codeloop.services.syncer import SWEEPER_SOURCE
from tests.conftest import sqs_event
from tests.unit.ingress.payloads import SECRET, signed_headers


class Lines(logging.Handler):
    """Every line the codeloop logger writes, as the JSON objects Powertools formats."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logger.registered_formatter)
        self.lines: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))

    def saying(self, message: str) -> list[dict]:
        return [line for line in self.lines if line["message"] == message]


class MeetAt(logging.Filter):
    """Holds each thread at its first line saying ``message`` until every thread has reached its own,
    so all threads have bound their keys before any of these lines is formatted."""

    def __init__(self, message: str, parties: int) -> None:
        super().__init__()
        self.message = message
        self.barrier = threading.Barrier(parties, timeout=30)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage() == self.message:
            self.barrier.wait()
        return True


@pytest.fixture
def lines() -> Iterator[Lines]:
    capture = Lines()
    logger.addHandler(capture)
    yield capture
    logger.removeHandler(capture)


def message(body: dict) -> dict:
    return {"MessageId": str(uuid.uuid4()), "ReceiptHandle": "handle", "Body": json.dumps(body)}


def test_two_concurrent_deliveries_each_log_only_their_own_correlation_id(db_url, lines):
    status_syncer = handlers.load("status_syncer")
    meet = MeetAt("no such delivery", parties=2)
    logger.addFilter(meet)
    try:
        threads = [
            threading.Thread(target=status_syncer, args=(sqs_event(message({"delivery_id": delivery})), None))
            for delivery in ("d-first", "d-second")
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        logger.removeFilter(meet)

    logged = {line["delivery_id"]: line["correlation_id"] for line in lines.saying("no such delivery")}
    assert logged == {"d-first": "d-first", "d-second": "d-second"}


def test_a_sweep_after_a_task_carries_none_of_that_tasks_keys(db_url, lines):
    with transaction() as conn:
        store.upsert_installation(conn, Installation(id=7, account_login="octo"))
        store.upsert_repository(conn, RepositoryRef(id=70, full_name="octo/widgets"), installation_id=7)
        task = store.create_task(conn, NewTask(repository_id=70, title="done already"))
        store.transition_task(conn, task.id, TaskStatus.CANCELLED)
    step = {
        "task_token": "token",
        "execution_name": f"{task.id}-1",
        "step": "BuildPrompt",
        "task_id": str(task.id),
        "attempt": 1,
    }
    handlers.load("prompt_builder")(sqs_event(message(step)), None)
    [skipped] = lines.saying("task no longer running; step skipped")
    assert (skipped["task_id"], skipped["step"], skipped["correlation_id"]) == (
        str(task.id),
        "BuildPrompt",
        str(task.id),
    )

    handlers.load("status_syncer")({"source": SWEEPER_SOURCE}, None)

    [swept] = lines.saying("sweep done")
    assert not {"task_id", "step", "attempt", "correlation_id"} & swept.keys()


def emf_documents(output: str) -> list[dict]:
    documents = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [document for document in documents if "_aws" in document]


def test_the_webhook_receiver_flushes_its_metrics_on_every_invocation(monkeypatch, capsys):
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", SECRET)
    headers = signed_headers(b"{}", "issues", "d-forged") | {"x-hub-signature-256": "sha256=" + "0" * 64}
    event = {
        "version": "2.0",
        "rawPath": "/webhooks/github",
        "headers": headers,
        "requestContext": {"http": {"method": "POST", "path": "/webhooks/github"}},
        "body": "{}",
        "isBase64Encoded": False,
    }

    assert handlers.load("webhook_receiver")(event, None)["statusCode"] == 401

    [document] = emf_documents(capsys.readouterr().out)
    assert document["WebhookRejected"] == [1.0]
    assert document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "codeloop"


def test_the_status_syncer_flushes_its_metrics_on_every_invocation(capsys):
    note = message({"batch_id": "b-1", "event": "batch_finished", "execution_name": "b-1"})

    handlers.load("status_syncer")(sqs_event(note), None)

    [document] = emf_documents(capsys.readouterr().out)
    assert document["BatchFinished"] == [1.0]
