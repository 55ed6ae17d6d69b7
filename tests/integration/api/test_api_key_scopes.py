"""API keys are scoped: a key of installation A cannot see, create, retry, cancel or count B's tasks.

Through the Lambda's own handler, with real PostgreSQL and moto's Step Functions.
"""

import json
import uuid

import psycopg
import pytest

from codeloop import cli
from codeloop.api.front import handle
from codeloop.db import migrations, store
from codeloop.db.pool import transaction
from codeloop.domain.api_keys import new_key
from codeloop.domain.models import Installation, RepositoryRef
from codeloop.local.http import to_event
from tests.integration.api.test_task_api import TASK

OURS = "octo-org/widgets"  # installation 7
THEIRS = "rival-org/secret"  # installation 8


def request(method: str, path: str, key: str, body=None, query: str = "") -> dict:
    """One task API request, made into an event as the local stack's front makes it."""
    event = to_event(
        method,
        f"{path}?{query}" if query else path,
        {"content-type": "application/json", "authorization": f"Bearer {key}"},
        json.dumps(body).encode() if body is not None else b"",
    )
    result = handle(event, None)
    return {"status": result["statusCode"], "body": json.loads(result["body"]), "headers": result["headers"]}


def create_key(capsys, *args: str) -> str:
    assert cli.main(["apikey", "create", *args]) == 0
    return capsys.readouterr().out.strip().splitlines()[-1]


@pytest.fixture
def keys(db_url, waiting_workflow, capsys) -> dict[str, str]:
    with transaction() as conn:
        store.upsert_installation(conn, Installation(id=7, account_login="octo-org"))
        store.upsert_installation(conn, Installation(id=8, account_login="rival-org"))
        store.upsert_repository(conn, RepositoryRef(id=42, full_name=OURS), installation_id=7)
        store.upsert_repository(conn, RepositoryRef(id=43, full_name=THEIRS), installation_id=8)
    return {
        "ours": create_key(capsys, "ours", "--installation", "7"),
        "theirs": create_key(capsys, "theirs", "--installation", "8"),
        "one-repository": create_key(capsys, "one-repository", "--repository", THEIRS),
    }


def their_task(keys) -> dict:
    created = request("POST", "/api/v1/tasks", keys["theirs"], TASK | {"repository": THEIRS})
    assert created["status"] == 201, created
    return created["body"]["task"]


def stored_tasks() -> list:
    with transaction() as conn:
        return store.list_tasks(conn)


def test_another_installations_task_is_a_404_on_every_route(keys):
    task = their_task(keys)
    unknown = str(uuid.uuid4())
    for method, route in [("GET", "/api/v1/tasks/{}"), ("POST", "/api/v1/tasks/{}/retry"),
                          ("POST", "/api/v1/tasks/{}/cancel")]:  # fmt: skip
        answer = request(method, route.format(task["id"]), keys["ours"])
        never_was = request(method, route.format(unknown), keys["ours"])
        assert (answer["status"], answer["body"]) == (404, {"error": f"no task {task['id']}"}), route
        assert never_was["status"] == 404 and never_was["body"] == {"error": f"no task {unknown}"}
    (untouched,) = stored_tasks()
    assert (untouched.status, untouched.attempt, untouched.retry_count) == ("queued", 1, 0)
    # Its own installation's key, and a key for just that repository, do reach it.
    assert request("GET", f"/api/v1/tasks/{task['id']}", keys["theirs"])["status"] == 200
    cancelled = request("POST", f"/api/v1/tasks/{task['id']}/cancel", keys["one-repository"])
    assert cancelled["status"] == 200 and cancelled["body"]["task"]["status"] == "cancelled"


def test_a_key_cannot_create_tasks_outside_its_scope(keys):
    refused = request("POST", "/api/v1/tasks", keys["ours"], TASK | {"repository": THEIRS})
    unknown = request("POST", "/api/v1/tasks", keys["ours"], TASK | {"repository": "nobody/knows"})
    assert refused["status"] == 403
    assert refused["body"] == {
        "error": f"this API key may not create tasks on {THEIRS}: it is outside the key's scope"
    }
    # A repository codeloop does not know is refused alike: the answer tells nothing of others.
    assert (
        unknown["status"] == 403 and "nobody/knows: it is outside the key's scope" in unknown["body"]["error"]
    )
    assert request("POST", "/api/v1/tasks", keys["one-repository"], TASK)["status"] == 403
    assert stored_tasks() == []


def test_a_batch_with_one_task_outside_the_scope_creates_nothing(keys):
    batch = {"tasks": [TASK, TASK | {"repository": THEIRS}]}
    refused = request("POST", "/api/v1/tasks/batch", keys["ours"], batch)
    assert refused["status"] == 403 and THEIRS in refused["body"]["error"]
    assert stored_tasks() == []


def test_stats_count_only_the_keys_own_tasks(keys):
    their_task(keys)
    ours = request("POST", "/api/v1/tasks", keys["ours"], TASK)
    assert ours["status"] == 201
    mine = request("GET", "/api/v1/stats", keys["ours"])
    assert mine["status"] == 200 and mine["body"]["tasks"] == 1
    assert request("GET", "/api/v1/stats", keys["theirs"])["body"]["tasks"] == 1
    hidden = request("GET", "/api/v1/stats", keys["ours"], query=f"repository={THEIRS}")
    unknown = request("GET", "/api/v1/stats", keys["ours"], query="repository=nobody/knows")
    assert (hidden["status"], hidden["body"]["error"]) == (
        404,
        f"codeloop does not know the repository {THEIRS}",
    )
    assert unknown["status"] == 404


def test_a_key_without_scope_reaches_nothing_until_rescoped(keys, capsys):
    """What the migration leaves a key made before scopes: no access, and the way out."""
    task = their_task(keys)
    key, prefix, key_hash = new_key()
    with transaction() as conn:
        store.create_api_key(conn, "legacy", prefix, key_hash)
    assert request("GET", f"/api/v1/tasks/{task['id']}", key)["status"] == 404
    assert request("POST", "/api/v1/tasks", key, TASK)["status"] == 403
    assert request("GET", "/api/v1/stats", key)["body"]["tasks"] == 0
    assert cli.main(["apikey", "list"]) == 0
    listing = capsys.readouterr().out
    assert "reaches nothing (no scope: run 'codeloop apikey scope legacy --installation ID')" in listing
    assert f"reaches repository {THEIRS}" not in listing and f"reaches {THEIRS}" in listing

    assert cli.main(["apikey", "scope", "legacy", "--installation", "8", "--repository", OURS]) == 0
    assert capsys.readouterr().out.strip() == f"API key 'legacy' now reaches installation 8, {OURS}"
    assert request("GET", f"/api/v1/tasks/{task['id']}", key)["status"] == 200
    assert request("POST", "/api/v1/tasks", key, TASK)["status"] == 201


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "a key needs a scope: --installation ID and/or --repository owner/name"),
        (["--installation", "99"], "codeloop knows no installation 99"),
        (["--repository", "nobody/knows"], "codeloop knows no repository nobody/knows"),
    ],
)
def test_the_cli_refuses_a_scope_it_cannot_check(keys, capsys, arguments, message):
    assert cli.main(["apikey", "create", "bad", *arguments]) == 2
    assert message in capsys.readouterr().err
    assert cli.main(["apikey", "scope", "ours", *arguments]) == 2
    with transaction() as conn:
        assert [k.name for k in store.list_api_keys(conn)] == ["ours", "theirs", "one-repository"]
        assert store.list_api_keys(conn)[0].installation_ids == [7]


def test_each_key_has_its_own_request_limit(keys, monkeypatch):
    monkeypatch.setenv("API_KEY_REQUESTS_PER_MINUTE", "2")
    from codeloop import settings

    settings.reset_settings()
    for _ in range(2):
        assert request("GET", "/api/v1/stats", keys["ours"])["status"] == 200
    limited = request("GET", "/api/v1/stats", keys["ours"])
    assert limited["status"] == 429
    assert 1 <= int(limited["headers"]["Retry-After"]) <= 60
    assert "this API key made 2 requests in the last minute" in limited["body"]["error"]
    assert request("POST", "/api/v1/tasks", keys["ours"], TASK)["status"] == 429
    assert stored_tasks() == []
    assert request("GET", "/api/v1/stats", keys["theirs"])["status"] == 200


def test_the_migration_leaves_existing_keys_without_scope(empty_db_url):
    """Keys made before 0008 reach nothing after it (not every installation, as they used to)."""
    migrations.migrate(empty_db_url)
    later = [m for m in migrations.discover() if m.version >= 8]
    migrations.rollback(empty_db_url, steps=len(later))
    with psycopg.connect(empty_db_url) as conn:
        conn.execute("insert into api_keys (name, prefix, key_hash) values ('old', 'abcd', 'hash')")
    migrations.migrate(empty_db_url)
    with psycopg.connect(empty_db_url) as conn:
        row = conn.execute(
            "select installation_ids, repository_ids from api_keys where name = 'old'"
        ).fetchone()
    assert row == ([], [])


def test_the_openapi_document_describes_scope_and_limit_answers(db_url):
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/api/v1/openapi.json",
        "rawQueryString": "",
        "headers": {},
        "requestContext": {
            "http": {"method": "GET", "path": "/api/v1/openapi.json"},
            "requestId": "r",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }
    paths = json.loads(handle(event, None)["body"])["paths"]
    assert {"403", "429"} <= set(paths["/api/v1/tasks"]["post"]["responses"])
    assert {"403", "429"} <= set(paths["/api/v1/tasks/batch"]["post"]["responses"])
    for path, method in [("/api/v1/tasks/{task_id}", "get"), ("/api/v1/tasks/{task_id}/retry", "post"),
                         ("/api/v1/tasks/{task_id}/cancel", "post"), ("/api/v1/stats", "get")]:  # fmt: skip
        responses = paths[path][method]["responses"]
        assert {"401", "404", "429"} <= set(responses), path
        assert "scope" in responses["404"]["description"], path
