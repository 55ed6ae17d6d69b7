"""The task API through the same handler the Lambda runs, with real PostgreSQL and moto's Step Functions."""

import json

import pytest

from codeloop import cli
from codeloop.adapters.aws import client
from codeloop.api.front import handle
from codeloop.db import store
from codeloop.db.pool import transaction
from codeloop.domain.models import Installation, RepositoryRef

# A stand-in workflow that waits, so a test can see an execution running and stop it.


@pytest.fixture
def api(db_url, waiting_workflow, monkeypatch, capsys):
    with transaction() as conn:
        store.upsert_installation(conn, Installation(id=7, account_login="octo-org"))
        store.upsert_repository(conn, RepositoryRef(id=42, full_name="octo-org/widgets"), installation_id=7)
    assert cli.main(["apikey", "create", "ci-bot", "--installation", "7"]) == 0
    key = capsys.readouterr().out.strip().splitlines()[-1]
    return {"key": key, "state_machine": waiting_workflow}


def call(
    method: str, path: str, body=None, key: str | None = None, headers: dict | None = None
) -> tuple[int, dict]:
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "content-type": "application/json",
            **({"authorization": f"Bearer {key}"} if key else {}),
            **(headers or {}),
        },
        "requestContext": {
            "http": {"method": method, "path": path, "sourceIp": "127.0.0.1"},
            "requestId": "req-1",
            "stage": "$default",
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }
    result = handle(event, None)
    return result["statusCode"], json.loads(result["body"])


TASK = {
    "repository": "octo-org/widgets",
    "title": "Add a --json flag",
    "type": "feature",
    "complexity": 3,
    "priority": "high",
    "requirements": ["prints JSON"],
    "acceptance_criteria": ["a test covers it"],
}


def test_create_a_task_starts_its_workflow(api):
    status, body = call("POST", "/api/v1/tasks", TASK, api["key"])
    assert status == 201, body
    task = body["task"]
    assert (task["status"], task["attempt"], task["source"], task["requested_by"]) == (
        "queued",
        1,
        "api",
        "api:ci-bot",
    )
    execution = client("stepfunctions").describe_execution(executionArn=task["workflow_execution_arn"])
    assert execution["name"] == f"{task['id']}-1"
    assert json.loads(execution["input"]) == {"task_id": task["id"], "attempt": 1, "max_attempts": 4}

    status, shown = call("GET", f"/api/v1/tasks/{task['id']}", key=api["key"])
    assert status == 200
    assert shown["task"]["id"] == task["id"]
    assert [e["name"] for e in shown["executions"]] == [f"{task['id']}-1"]
    assert [a["action"] for a in shown["audit"]] == ["created", "status_changed"]
    assert shown["audit"][1]["actor"] == "api:ci-bot"


def test_cancel_then_retry(api):
    _, body = call("POST", "/api/v1/tasks", TASK, api["key"])
    task_id = body["task"]["id"]
    status, cancelled = call("POST", f"/api/v1/tasks/{task_id}/cancel", key=api["key"])
    assert status == 200 and cancelled["task"]["status"] == "cancelled"
    first = client("stepfunctions").describe_execution(executionArn=body["task"]["workflow_execution_arn"])
    assert first["status"] == "ABORTED"
    status, again = call("POST", f"/api/v1/tasks/{task_id}/cancel", key=api["key"])
    assert status == 409 and "already cancelled" in again["error"]

    status, retried = call("POST", f"/api/v1/tasks/{task_id}/retry", key=api["key"])
    assert status == 200
    assert (retried["task"]["status"], retried["task"]["attempt"], retried["task"]["retry_count"]) == (
        "queued",
        2,
        1,
    )
    assert retried["task"]["workflow_execution_arn"].endswith(f"{task_id}-2")
    status, refused = call("POST", f"/api/v1/tasks/{task_id}/retry", key=api["key"])
    assert status == 409 and "only a failed or cancelled task" in refused["error"]


@pytest.mark.parametrize(
    "change",
    [
        {"complexity": 11},
        {"title": ""},
        {"colour": "blue"},
        {"priority": "urgent"},
        {"repository": "no slash"},
        {"type": "poem"},
        # PostgreSQL's text cannot hold NUL: refused, not a 500
        {"title": "a\x00b"},
        {"description": "\x00"},
        {"requirements": ["ok", "no\x00"]},
        {"acceptance_criteria": ["\x00"]},
        {"base_branch": "main\x00"},
    ],
)
def test_invalid_requests_get_422(api, change):
    status, body = call("POST", "/api/v1/tasks", TASK | change, api["key"])
    assert status == 422, body
    status, body = call("POST", "/api/v1/tasks/batch", {"tasks": [TASK, TASK | change]}, api["key"])
    assert status == 422, body
    with transaction() as conn:
        assert store.list_tasks(conn) == []


def test_a_repository_the_app_left_is_422(api):
    with transaction() as conn:
        gone = store.upsert_repository(
            conn, RepositoryRef(id=43, full_name="octo-org/gone"), installation_id=7
        )
        store.deactivate_repository(conn, gone.id)
    status, body = call("POST", "/api/v1/tasks", TASK | {"repository": "octo-org/gone"}, api["key"])
    assert status == 422 and "not installed on octo-org/gone" in body["error"]


def test_keys_are_required_and_revocable(api, capsys):
    assert call("POST", "/api/v1/tasks", TASK)[0] == 401
    assert call("POST", "/api/v1/tasks", TASK, "cl_nope_nope")[0] == 401
    assert (
        call("GET", "/api/v1/tasks/00000000-0000-0000-0000-000000000000", headers={"x-api-key": api["key"]})[
            0
        ]
        == 404
    )
    assert cli.main(["apikey", "revoke", "ci-bot"]) == 0
    assert call("POST", "/api/v1/tasks", TASK, api["key"])[0] == 401
    assert cli.main(["apikey", "list"]) == 0
    listing = capsys.readouterr().out
    assert "ci-bot" in listing and "revoked" in listing and api["key"] not in listing


def test_unknown_and_malformed_task_ids(api):
    assert call("GET", "/api/v1/tasks/00000000-0000-0000-0000-000000000000", key=api["key"])[0] == 404
    assert call("GET", "/api/v1/tasks/not-a-uuid", key=api["key"])[0] == 422
    assert call("GET", f"/api/v1/tasks/{'-' * 36}", key=api["key"])[0] == 422  # 36 characters, no uuid
    assert call("POST", "/api/v1/tasks/00000000-0000-0000-0000-000000000000/cancel", key=api["key"])[0] == 404


def test_openapi_document_describes_the_routes(api):
    status, document = call("GET", "/api/v1/openapi.json")
    assert status == 200
    assert {
        "/api/v1/tasks",
        "/api/v1/tasks/batch",
        "/api/v1/tasks/{task_id}",
        "/api/v1/tasks/{task_id}/retry",
        "/api/v1/tasks/{task_id}/cancel",
        "/health",
    } <= set(document["paths"])
    schema = document["components"]["schemas"]["TaskRequest"]
    assert schema["properties"]["complexity"]["maximum"] == 10
