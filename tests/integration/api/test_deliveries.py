"""The delivery log through the Lambda's own handler: filters, keyset pages, scope, replays and the CLI.

Real PostgreSQL, moto's SQS and Step Functions, and the GitHub fake for the commands a replay runs.
"""

import json
from urllib.parse import parse_qsl, urlsplit

import pytest

from codeloop import cli
from codeloop.db import store
from codeloop.db.pool import transaction
from codeloop.domain.models import DeliveryStatus, Installation, RepositoryRef
from codeloop.services.syncer import handle_record
from tests.conftest import receive_all
from tests.integration.api.test_api_key_scopes import create_key, request
from tests.integration.ingress import test_requests
from tests.integration.ingress.test_requests import REPO, calls, comment, tasks_in

world = test_requests.world  # the GitHub fake with REPO on installation 957387
THEIRS = "rival-org/secret"  # installation 8


@pytest.fixture
def log(world, aws, capsys) -> dict:
    with transaction() as conn:
        store.upsert_installation(conn, Installation(id=957387, account_login="Codertocat"))
        store.upsert_repository(
            conn, RepositoryRef(id=world["repo"].id, full_name=REPO), installation_id=957387
        )
        store.upsert_installation(conn, Installation(id=8, account_login="rival-org"))
        store.upsert_repository(conn, RepositoryRef(id=43, full_name=THEIRS), installation_id=8)
    return world | {
        "queue": aws["EVENTS_QUEUE_URL"],
        "ours": create_key(capsys, "ours", "--installation", "957387"),
        "theirs": create_key(capsys, "theirs", "--installation", "8"),
        "one-repository": create_key(capsys, "one-repository", "--repository", REPO),
    }


def stored(delivery_id: str, event: str, action: str | None, *, installation: int = 957387,
           repository: tuple[int, str] | None = None, status: str = "processed",
           received_at: str | None = None) -> None:  # fmt: skip
    payload = {"action": action, "installation": {"id": installation}, "secret_marker": delivery_id}
    with transaction() as conn:
        store.insert_delivery(
            conn,
            delivery_id=delivery_id,
            event=event,
            action=action,
            installation_id=installation,
            repository_id=repository[0] if repository else None,
            repository_full_name=repository[1] if repository else None,
            payload=payload,
            status=DeliveryStatus(status),
        )
        if received_at:
            conn.execute(
                "update webhook_deliveries set received_at = %s where delivery_id = %s",
                (received_at, delivery_id),
            )


def ids(answer: dict) -> list[str]:
    assert answer["status"] == 200, answer
    return [delivery["id"] for delivery in answer["body"]["deliveries"]]


@pytest.fixture
def mixed(log) -> dict:
    ours = (log["repo"].id, REPO)
    stored("c-1", "issue_comment", "created", repository=ours, received_at="2024-05-01T10:00:00Z")
    stored("l-1", "issues", "labeled", repository=ours, status="failed", received_at="2024-05-02T10:00:00Z")
    stored("i-1", "installation", "created", received_at="2024-05-03T10:00:00Z")
    stored(
        "t-1",
        "pull_request",
        "opened",
        installation=8,
        repository=(43, THEIRS),
        received_at="2024-05-04T10:00:00Z",
    )
    return log


def test_filters_narrow_the_log_within_the_keys_scope(mixed):
    key = mixed["ours"]
    assert ids(request("GET", "/api/v1/deliveries", key)) == ["i-1", "l-1", "c-1"]  # newest first
    assert ids(request("GET", "/api/v1/deliveries", key, query="event=issues")) == ["l-1"]
    assert ids(request("GET", "/api/v1/deliveries", key, query="action=created")) == ["i-1", "c-1"]
    assert ids(request("GET", "/api/v1/deliveries", key, query="status=failed")) == ["l-1"]
    assert ids(request("GET", "/api/v1/deliveries", key, query="repository=codertocat/hello-world")) == [
        "l-1",
        "c-1",
    ]
    assert ids(request("GET", "/api/v1/deliveries", key, query="source=github")) == ["i-1", "l-1", "c-1"]
    assert ids(request("GET", "/api/v1/deliveries", key, query="source=slack")) == []
    window = "since=2024-05-02T10:00:00Z&until=2024-05-03T10:00:00Z"  # since inclusive, until exclusive
    assert ids(request("GET", "/api/v1/deliveries", key, query=window)) == ["l-1"]
    # Another installation's delivery is never listed, not even when asked for by name.
    assert ids(request("GET", "/api/v1/deliveries", key, query=f"repository={THEIRS}")) == []
    assert ids(request("GET", "/api/v1/deliveries", mixed["theirs"])) == ["t-1"]
    # A key for one repository does not see its installation's events.
    assert ids(request("GET", "/api/v1/deliveries", mixed["one-repository"])) == ["l-1", "c-1"]
    listed = request("GET", "/api/v1/deliveries", key, query="event=issues")["body"]["deliveries"][0]
    assert "payload" not in listed
    assert (listed["source"], listed["action"], listed["repository"], listed["status"]) == (
        "github", "labeled", REPO, "failed",
    )  # fmt: skip


def test_bad_filters_and_cursors_are_a_clear_4xx(mixed):
    key = mixed["ours"]
    for query in [
        "status=lost",
        "source=email",
        "limit=0",
        "limit=201",
        "since=yesterday",
        "repository=nope",
        "event=issue_comment\x00",  # PostgreSQL's text cannot hold NUL: refused, not a 500
        "action=\x00",
    ]:
        assert request("GET", "/api/v1/deliveries", key, query=query)["status"] == 422, query
    forged = request("GET", "/api/v1/deliveries", key, query="cursor=bm90LWEtY3Vyc29y")
    assert forged["status"] == 400 and "start again without it" in forged["body"]["error"]


def test_pages_neither_repeat_nor_skip_while_deliveries_arrive(log):
    ours = (log["repo"].id, REPO)
    # Ten deliveries, four sharing one instant: the cursor breaks ties on the delivery id.
    for n in range(10):
        stored(f"d-{n:02}", "issue_comment", "created", repository=ours,
               received_at=f"2024-05-01T10:00:0{min(n, 6)}Z")  # fmt: skip
    before = ids(request("GET", "/api/v1/deliveries", log["ours"], query="limit=200"))
    assert len(before) == 10
    seen: list[str] = []
    query = "limit=3&event=issue_comment"
    while True:
        page = request("GET", "/api/v1/deliveries", log["ours"], query=query)
        seen += ids(page)
        stored(f"new-{len(seen)}", "issue_comment", "created", repository=ours)  # arrives mid-paging
        if page["body"]["next"] is None:
            assert page["body"]["next_cursor"] is None
            break
        link = urlsplit(page["body"]["next"])
        assert link.path == "/api/v1/deliveries"
        assert dict(parse_qsl(link.query))["event"] == "issue_comment"  # the filters ride along
        query = link.query
    assert seen == before


def test_show_gives_the_payload_only_within_the_keys_scope(mixed):
    mine = request("GET", "/api/v1/deliveries/c-1", mixed["ours"])
    assert mine["status"] == 200
    assert mine["body"]["delivery"]["payload"]["secret_marker"] == "c-1"
    assert mine["body"]["delivery"]["replays"] == []
    hidden = request("GET", "/api/v1/deliveries/t-1", mixed["ours"])
    never_was = request("GET", "/api/v1/deliveries/nothing-here", mixed["ours"])
    assert (hidden["status"], hidden["body"]) == (404, {"error": "no delivery t-1"})
    assert (never_was["status"], never_was["body"]) == (404, {"error": "no delivery nothing-here"})
    # An installation event: its installation's key sees it, a key for one repository does not.
    assert request("GET", "/api/v1/deliveries/i-1", mixed["ours"])["status"] == 200
    assert request("GET", "/api/v1/deliveries/i-1", mixed["one-repository"])["status"] == 404
    assert request("GET", "/api/v1/deliveries/t-1", mixed["theirs"])["status"] == 200


def replay(log, delivery_id: str, key: str = "ours", query: str = "") -> dict:
    answer = request("POST", f"/api/v1/deliveries/{delivery_id}/replay", log[key], query=query)
    return answer


def run_queue(log) -> list[dict]:
    """Hand every message on the events queue to the status syncer, as its Lambda would."""
    messages = receive_all(log["queue"])
    for message in messages:
        handle_record(json.dumps(message["body"]))
    return messages


def audit_rows(delivery_id: str) -> list[dict]:
    with transaction() as conn:
        return conn.execute(
            "select action, actor, old_values, new_values, correlation_id from audit_log"
            " where entity = 'webhook_deliveries' and entity_id = %s and action = 'replayed' order by id",
            (delivery_id,),
        ).fetchall()


def test_a_replayed_fix_finds_its_task_and_new_task_makes_another(log):
    comment(log, "/codeloop fix")
    [first] = tasks_in(log)
    log["fake"].clear_calls()

    again = replay(log, "d-1")
    assert again["status"] == 202
    replay_id = again["body"]["replay"]["replay_id"]
    assert again["body"]["replay"] == {"replay_id": replay_id, "delivery_id": "d-1", "new_task": False,
                                       "status": "queued"}  # fmt: skip
    [message] = run_queue(log)
    assert message["body"]["replay"] == {"id": replay_id, "new_task": False}
    assert message["attributes"]["MessageDeduplicationId"] == f"d-1:replay:{replay_id}"
    assert [task.id for task in tasks_in(log)] == [first.id]  # the same request: no second task
    base = f"/repos/{REPO}"
    with transaction() as conn:
        status_comment = store.get_task(conn, first.id).status_comment_id
    assert calls(log) == [  # the same steps as the first time; the task's one comment is updated, not added
        ("GET", f"{base}/contents/.github/codeloop.yml"),
        ("GET", f"{base}/collaborators/maintainer/permission"),
        ("POST", f"{base}/issues/comments/{log['comment_id']}/reactions"),
        ("PATCH", f"{base}/issues/comments/{status_comment}"),
    ]
    with transaction() as conn:
        assert store.get_delivery(conn, "d-1").status == "processed"

    fresh = replay(log, "d-1", query="new_task=true")
    assert fresh["status"] == 202 and fresh["body"]["replay"]["new_task"] is True
    run_queue(log)
    tasks = tasks_in(log)
    assert len(tasks) == 2
    [second] = [task for task in tasks if task.id != first.id]
    assert second.request_key == f"d-1:0:replay:{fresh['body']['replay']['replay_id']}"
    assert second.status == "queued" and second.workflow_execution_arn

    # Both replays are in the audit log, naming the key and the delivery; show lists them too.
    rows = audit_rows("d-1")
    assert [(row["action"], row["actor"], row["new_values"]["new_task"]) for row in rows] == [
        ("replayed", "api:ours", False),
        ("replayed", "api:ours", True),
    ]
    assert all(row["new_values"]["acted_on"] and row["new_values"]["key_id"] for row in rows)
    assert rows[0]["old_values"] == {"status": "processed"}
    shown = request("GET", "/api/v1/deliveries/d-1", log["ours"])["body"]["delivery"]
    assert [(r["by"], r["new_task"]) for r in shown["replays"]] == [("api:ours", False), ("api:ours", True)]


def test_a_replay_outside_the_keys_scope_is_a_404_and_does_nothing(mixed):
    refused = replay(mixed, "t-1")
    assert (refused["status"], refused["body"]) == (404, {"error": "no delivery t-1"})
    assert replay(mixed, "i-1", key="one-repository")["status"] == 404
    assert receive_all(mixed["queue"]) == []
    assert audit_rows("t-1") == [] and audit_rows("i-1") == []
    with transaction() as conn:
        assert store.get_delivery(conn, "t-1").status == "processed"


def test_replaying_an_event_codeloop_ignores_is_audited_and_queues_nothing(mixed):
    stored("s-1", "star", "created", repository=(mixed["repo"].id, REPO), status="ignored")
    answer = replay(mixed, "s-1")
    assert answer["status"] == 202 and answer["body"]["replay"]["status"] == "ignored"
    assert receive_all(mixed["queue"]) == []
    [row] = audit_rows("s-1")
    assert row["new_values"]["acted_on"] is False


def test_the_cli_lists_shows_and_replays(mixed, capsys):
    assert cli.main(["deliveries", "list", "--limit", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[2] for line in out[:2]] == ["t-1", "i-1"]  # operators see every installation
    assert out[2].startswith("more: --cursor ")
    assert cli.main(["deliveries", "list", "--limit", "2", "--cursor", out[2].split()[-1]]) == 0
    assert [line.split()[2] for line in capsys.readouterr().out.splitlines()] == ["l-1", "c-1"]
    assert cli.main(["deliveries", "list", "--event", "issues", "--status", "failed"]) == 0
    assert [line.split()[2] for line in capsys.readouterr().out.splitlines()] == ["l-1"]

    assert cli.main(["deliveries", "show", "t-1"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["delivery_id"], shown["payload"]["secret_marker"], shown["replays"]) == ("t-1", "t-1", [])
    assert cli.main(["deliveries", "show", "nope"]) == 1

    assert cli.main(["deliveries", "replay", "c-1"]) == 0
    assert capsys.readouterr().out.startswith("replay ")
    [message] = receive_all(mixed["queue"])
    assert message["body"]["delivery_id"] == "c-1"
    [row] = audit_rows("c-1")
    assert (row["actor"], row["new_values"]["key_id"]) == ("cli", None)


def test_the_openapi_document_lists_the_delivery_routes(db_url):
    document = request("GET", "/api/v1/openapi.json", "no-key-needed")["body"]
    assert {
        "/api/v1/deliveries",
        "/api/v1/deliveries/{delivery_id}",
        "/api/v1/deliveries/{delivery_id}/replay",
    } <= set(document["paths"])
    parameters = {p["name"] for p in document["paths"]["/api/v1/deliveries"]["get"]["parameters"]}
    assert {
        "source",
        "event",
        "action",
        "repository",
        "status",
        "since",
        "until",
        "limit",
        "cursor",
    } <= parameters
