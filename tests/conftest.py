"""Shared fixtures: a real PostgreSQL for every test that asks for one.

The session uses ``DATABASE_URL`` when set, else starts an embedded server itself. The schema is
built once per session from the migrations into a template database; every test that asks for
``db_url`` gets a fresh copy of it, so tests never see each other's rows.
"""

from __future__ import annotations

import itertools
import os
import queue
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from codeloop import settings as settings_module
from codeloop.db import migrations
from codeloop.db import pool as pool_module

REPO_ROOT = Path(__file__).resolve().parents[1]

_counter = itertools.count()


@pytest.fixture(autouse=True)
def _clean_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test reads settings afresh, and no test leaks a pool into the next."""
    settings_module.reset_settings()
    yield
    pool_module.close_pool()
    settings_module.reset_settings()


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    from codeloop.local import embedded_pg

    with tempfile.TemporaryDirectory(prefix="codeloop-pg-") as data_dir:
        server = embedded_pg.start(Path(data_dir), cleanup="delete")
        try:
            yield embedded_pg.url(server)
        finally:
            server.cleanup()


def _admin(url: str, sql: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session")
def template_db(pg_admin_url: str) -> Iterator[str]:
    """A database migrated once per session: the template every test database copies."""
    name = f"codeloop_tmpl_{os.getpid()}"
    _admin(pg_admin_url, f'drop database if exists "{name}"')
    _admin(pg_admin_url, f'create database "{name}"')
    migrations.migrate(make_conninfo(pg_admin_url, dbname=name))
    yield name
    _admin(pg_admin_url, f'drop database if exists "{name}" with (force)')


@pytest.fixture
def empty_db_url(pg_admin_url: str) -> Iterator[str]:
    """A new, empty database (for migration tests)."""
    name = f"codeloop_empty_{os.getpid()}_{next(_counter)}"
    _admin(pg_admin_url, f'create database "{name}"')
    yield make_conninfo(pg_admin_url, dbname=name)
    pool_module.close_pool()
    _admin(pg_admin_url, f'drop database if exists "{name}" with (force)')


class ReadyDatabases:
    """Copies of the template made ahead of the tests that take them, on a thread of their own.

    CREATE DATABASE writes the whole template through the WAL and waits for the disk (150 to
    450 ms here): a test would wait that long before it starts. Made while the previous tests
    run, the copy is ready when the next test asks; each is still a fresh database of its own."""

    AHEAD = 2

    def __init__(self, admin_url: str, template: str) -> None:
        self._admin_url, self._template = admin_url, template
        self._ready: queue.Queue[str | BaseException] = queue.Queue(maxsize=self.AHEAD)
        self._stopping = threading.Event()
        self._maker = threading.Thread(target=self._make, name="test-databases", daemon=True)
        self._maker.start()

    def _make(self) -> None:
        while not self._stopping.is_set():
            name = f"codeloop_t_{os.getpid()}_{next(_counter)}"
            try:
                _admin(self._admin_url, f'create database "{name}" template "{self._template}"')
            except BaseException as exc:  # the test that takes it fails with the cause
                self._ready.put(exc)
                return
            self._ready.put(name)

    def take(self) -> str:
        made = self._ready.get(timeout=120)
        if isinstance(made, BaseException):
            raise made
        return made

    def close(self) -> None:
        """Stop making copies and drop those nobody took."""
        self._stopping.set()
        while self._maker.is_alive() or not self._ready.empty():
            try:
                made = self._ready.get(timeout=0.1)
            except queue.Empty:
                continue
            if isinstance(made, str):
                _admin(self._admin_url, f'drop database if exists "{made}" with (force)')


@pytest.fixture(scope="session")
def ready_databases(pg_admin_url: str, template_db: str) -> Iterator[ReadyDatabases]:
    databases = ReadyDatabases(pg_admin_url, template_db)
    yield databases
    databases.close()


@pytest.fixture
def db_url(
    pg_admin_url: str, ready_databases: ReadyDatabases, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A fresh, migrated database of this test's own; also what the product's settings point at."""
    name = ready_databases.take()
    url = make_conninfo(pg_admin_url, dbname=name)
    monkeypatch.setenv("DATABASE_URL", url)
    settings_module.reset_settings()
    yield url
    pool_module.close_pool()
    _admin(pg_admin_url, f'drop database if exists "{name}" with (force)')


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection]:
    """One connection to this test's database, with dict rows, as the pool hands them out."""
    from psycopg.rows import dict_row

    with psycopg.connect(db_url, row_factory=dict_row) as connection:
        yield connection


@pytest.fixture(scope="session")
def aws_emulation() -> Iterator[str]:
    """moto on loopback (its own process), once per session: the same boto3 calls as on AWS reach it."""
    from codeloop.local import aws as local_aws

    emulation = local_aws.start_emulation()
    yield emulation.endpoint_url
    emulation.stop()


@pytest.fixture
def aws(aws_emulation: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Fresh queues (and state machines) for this test; the settings point at them."""
    from codeloop.adapters import aws as aws_adapter
    from codeloop.local import aws as local_aws

    local_aws.reset(aws_emulation)
    for key, value in local_aws.LOCAL_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    env = local_aws.provision(aws_emulation)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings_module.reset_settings()
    aws_adapter.reset_clients()
    yield env
    aws_adapter.reset_clients()


@pytest.fixture
def waiting_workflow(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """A stand-in task workflow that just waits, so a test sees executions start, run and stop
    without the workers; STATE_MACHINE_ARN points at it."""
    import json

    from codeloop.adapters.aws import client

    definition = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 300, "End": True}}}
    arn = client("stepfunctions").create_state_machine(
        name="test-waiting", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/x"
    )["stateMachineArn"]
    monkeypatch.setenv("STATE_MACHINE_ARN", arn)
    settings_module.reset_settings()
    return arn


def receive_all(queue_url: str, *, max_messages: int = 10) -> list[dict]:
    """Every message waiting on a queue (deleted as read), bodies decoded."""
    import json

    from codeloop.adapters.aws import client

    messages = []
    while True:
        batch = (
            client("sqs")
            .receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=max_messages,
                AttributeNames=["All"],
                WaitTimeSeconds=0,
            )
            .get("Messages", [])
        )
        if not batch:
            return messages
        for message in batch:
            client("sqs").delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            messages.append({"body": json.loads(message["Body"]), "attributes": message["Attributes"]})


@pytest.fixture
def github_fake(monkeypatch: pytest.MonkeyPatch):
    """An HTTP fake of GitHub on loopback; the settings (GITHUB_API_URL, App id and key) point at it."""
    from tests.fakes.github import github_fake_environment

    with github_fake_environment(monkeypatch) as fake:
        yield fake


def take_message(queue_url: str, *, timeout: float = 20.0, delete: bool = False) -> dict:
    """The next raw SQS message on a queue, waiting for it (moto's executions send asynchronously)."""
    import time

    from codeloop.adapters.aws import client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = (
            client("sqs")
            .receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1, AttributeNames=["All"]
            )
            .get("Messages", [])
        )
        if batch:
            if delete:
                client("sqs").delete_message(QueueUrl=queue_url, ReceiptHandle=batch[0]["ReceiptHandle"])
            return batch[0]
    raise AssertionError(f"no message on {queue_url} within {timeout} s")


def sqs_event(message: dict, queue_url: str = "codeloop") -> dict:
    """An SQS event for a Lambda handler, holding one received message (as the event source mapping builds it)."""
    from codeloop.local.pollers import to_lambda_record

    arn = "arn:aws:sqs:us-east-1:123456789012:" + queue_url.rsplit("/", 1)[-1]
    return {"Records": [to_lambda_record(message, arn, "us-east-1")]}


def wait_for_execution(execution_arn: str, status: str | None = None, *, timeout: float = 30.0) -> dict:
    """describe_execution once the execution has ``status`` (or, without one, has ended)."""
    import time

    from codeloop.adapters.aws import client

    deadline = time.monotonic() + timeout
    while True:
        described = client("stepfunctions").describe_execution(executionArn=execution_arn)
        if described["status"] == status if status else described["status"] != "RUNNING":
            return described
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"execution still {described['status']}, not {status or 'ended'}, after {timeout} s"
            )
        time.sleep(0.2)
