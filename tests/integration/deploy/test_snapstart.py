"""SnapStart's runtime hooks, run the way Lambda runs them: every before-snapshot hook at the end of
init, then, in each restored copy, every after-restore hook before the first invocation."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator

import pytest
import snapshot_restore_py
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from codeloop.adapters import aws as aws_adapter
from codeloop.db import pool as pool_module
from codeloop.db.pool import transaction
from codeloop.local import handlers
from codeloop.services import snapstart
from codeloop.settings import reset_settings
from tests.unit.ingress.payloads import SECRET, signed_headers

FUNCTIONS = ["webhook_receiver", "prompt_builder", "codegen_dispatcher", "status_syncer"]


@pytest.fixture
def hooks() -> Iterator[None]:
    """An empty hook registry, as a fresh runtime has."""
    snapshot_restore_py.get_before_snapshot().clear()
    snapshot_restore_py.get_after_restore().clear()
    yield
    snapshot_restore_py.get_before_snapshot().clear()
    snapshot_restore_py.get_after_restore().clear()


def run(registry: list) -> None:
    for function, args, kwargs in registry:
        function(*args, **kwargs)


def delivery(delivery_id: str) -> dict:
    body = json.dumps({"action": "created", "zen": delivery_id}).encode()
    return {
        "rawPath": "/webhooks/github",
        "requestContext": {"http": {"method": "POST"}},
        "headers": signed_headers(body, "ping", delivery_id),
        "body": body.decode(),
        "isBase64Encoded": False,
    }


def backend() -> tuple[int, str]:
    with transaction() as conn:
        row = conn.execute(
            "select pg_backend_pid() as pid, current_setting('application_name') as app"
        ).fetchone()
    return row["pid"], row["app"]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_each_zip_function_registers_one_hook_of_each_kind(hooks, name):
    handlers.load_module(name)
    assert [hook[0] for hook in snapshot_restore_py.get_before_snapshot()] == [snapstart.before_snapshot]
    assert [hook[0] for hook in snapshot_restore_py.get_after_restore()] == [snapstart.after_restore]


def test_a_restored_receiver_opens_its_own_connections_and_clients(hooks, db_url, aws, monkeypatch):
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", SECRET)
    reset_settings()
    handler = handlers.load("webhook_receiver")

    run(snapshot_restore_py.get_before_snapshot())  # the end of init
    assert "codeloop.services.intake.receiver" in __import__("sys").modules
    assert aws_adapter.client.cache_info().currsize == 1  # sqs, created before the snapshot
    assert pool_module.get_pool.cache_info().currsize == 0  # and no connection in it
    snapshot_client = aws_adapter.client("sqs")

    assert handler(delivery(str(uuid.uuid4())), None)["statusCode"] == 200
    pid_before, _ = backend()
    random_before = random.getstate()
    # The copy is restored elsewhere, later: its database setting is not the snapshot's.
    restored_url = make_conninfo(db_url, application_name="restored-copy")
    monkeypatch.setenv("DATABASE_URL", restored_url)

    run(snapshot_restore_py.get_after_restore())

    assert random.getstate() != random_before
    assert aws_adapter.client("sqs") is not snapshot_client
    pid_after, application = backend()
    assert pid_after != pid_before and application == "restored-copy"
    assert conninfo_to_dict(pool_module.get_pool().conninfo)["application_name"] == "restored-copy"
    assert handler(delivery(str(uuid.uuid4())), None)["statusCode"] == 200


def test_before_the_snapshot_the_pool_is_closed_after_the_warm_up(hooks, db_url, aws):
    """A warm-up that touched the database leaves no connection in the snapshot."""
    handlers.load_module("webhook_receiver")
    backend()
    pool = pool_module.get_pool()
    run(snapshot_restore_py.get_before_snapshot())
    assert pool.closed
    assert pool_module.get_pool.cache_info().currsize == 0
