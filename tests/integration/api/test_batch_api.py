"""A batch through the task API, the real batch and task machines (moto) and the status syncer's handler."""

import json
import time

import pytest

from codeloop import cli
from codeloop.adapters.aws import client
from codeloop.db import store
from codeloop.db.pool import transaction
from codeloop.domain.models import Installation, RepositoryRef
from codeloop.local.handlers import load
from codeloop.local.pollers import to_lambda_record
from tests.conftest import wait_for_execution
from tests.integration.api.test_task_api import TASK, call

DEADLINE_SECONDS = 30


@pytest.fixture
def api_key(db_url, aws, capsys) -> str:
    with transaction() as conn:
        store.upsert_installation(conn, Installation(id=7, account_login="octo-org"))
        store.upsert_repository(conn, RepositoryRef(id=42, full_name="octo-org/widgets"), installation_id=7)
    assert cli.main(["apikey", "create", "ci-bot", "--installation", "7"]) == 0
    return capsys.readouterr().out.strip().splitlines()[-1]


def receive(queue_url: str, count: int) -> list[dict]:
    """Exactly the next ``count`` messages of a queue (raw, not deleted), waiting for the engine."""
    sqs = client("sqs")
    messages: list[dict] = []
    deadline = time.monotonic() + DEADLINE_SECONDS
    while len(messages) < count and time.monotonic() < deadline:
        messages += sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=count - len(messages), WaitTimeSeconds=1
        ).get("Messages", [])
    assert len(messages) == count, f"{len(messages)} of {count} messages on {queue_url}"
    return messages


def nothing_waiting(queue_url: str) -> bool:
    return not client("sqs").receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages")


def run_status_syncer(aws, messages: list[dict]) -> None:
    """The status_syncer Lambda on an SQS event of these messages, deleting those it handled."""
    sqs = client("sqs")
    queue_arn = sqs.get_queue_attributes(QueueUrl=aws["STATUS_QUEUE_URL"], AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    event = {"Records": [to_lambda_record(message, queue_arn, "us-east-1") for message in messages]}
    result = load("status_syncer")(event, None) or {}
    assert result.get("batchItemFailures", []) == []
    for message in messages:
        sqs.delete_message(QueueUrl=aws["STATUS_QUEUE_URL"], ReceiptHandle=message["ReceiptHandle"])


def send_note(aws, body: dict) -> None:
    """A note as the task machine sends it to the status queue."""
    client("sqs").send_message(
        QueueUrl=aws["STATUS_QUEUE_URL"],
        MessageBody=json.dumps(body),
        MessageGroupId=body["task_id"],
        MessageDeduplicationId=f"{body['task_id']}-{body['event']}",
    )


def task(task_id: str):
    with transaction() as conn:
        return store.require_task(conn, task_id)


def batch_body(**overrides) -> dict:
    tasks = [
        {**TASK, "title": "low one", "priority": "low"},
        {**TASK, "title": "critical one", "priority": "critical"},
        {**TASK, "title": "medium one", "priority": "medium"},
    ]
    return {"tasks": tasks, "max_concurrency": 2, "tolerated_failure_percentage": 50, **overrides}


def test_a_batch_runs_its_tasks_in_priority_order_two_at_a_time_until_each_ends(aws, api_key):
    status, body = call("POST", "/api/v1/tasks/batch", batch_body(), api_key)
    assert status == 202, body
    created = body["tasks"]
    assert [t["title"] for t in created] == ["critical one", "medium one", "low one"]
    for created_task in created:
        assert (created_task["status"], created_task["attempt"], created_task["source"]) == (
            "queued",
            1,
            "batch",
        )
        assert created_task["metadata"]["batch_id"] == body["batch_id"]
        assert created_task["workflow_execution_arn"] is None  # started when its turn comes
    batch = client("stepfunctions").describe_execution(executionArn=body["execution_arn"])
    assert batch["name"] == f"batch-{body['batch_id']}"
    assert json.loads(batch["input"])["tasks"] == [{"task_id": t["id"]} for t in created]

    # Two turns (max_concurrency): the syncer keeps each token and starts that task's workflow.
    first_turns = receive(aws["STATUS_QUEUE_URL"], 2)
    assert {json.loads(m["Body"])["task_id"] for m in first_turns} == {created[0]["id"], created[1]["id"]}
    assert nothing_waiting(aws["STATUS_QUEUE_URL"])
    run_status_syncer(aws, first_turns)
    prompts = [json.loads(m["Body"]) for m in receive(aws["PROMPT_QUEUE_URL"], 2)]
    assert {(p["step"], p["task_id"], p["attempt"]) for p in prompts} == {
        ("BuildPrompt", created[0]["id"], 1),
        ("BuildPrompt", created[1]["id"], 1),
    }
    for started in created[:2]:
        assert task(started["id"]).workflow_execution_arn.endswith(f"{started['id']}-1")
        assert task(started["id"]).metadata["batch_token"]
    # The third waits for its turn: the sweeper must not start it.
    with transaction() as conn:
        assert store.unlaunched_tasks(conn, older_than_seconds=0) == []

    # The critical task completes (its workflow's note): its batch item is answered, the third's turn comes.
    with transaction() as conn:
        for step in ("prompting", "generating"):
            store.transition_task(conn, created[0]["id"], step)
    send_note(aws, {"event": "workflow_succeeded", "task_id": created[0]["id"], "attempt": 1})
    run_status_syncer(aws, receive(aws["STATUS_QUEUE_URL"], 1))
    assert task(created[0]["id"]).status == "completed"
    third_turn = receive(aws["STATUS_QUEUE_URL"], 1)
    assert json.loads(third_turn[0]["Body"])["task_id"] == created[2]["id"]
    run_status_syncer(aws, third_turn)
    assert json.loads(receive(aws["PROMPT_QUEUE_URL"], 1)[0]["Body"])["task_id"] == created[2]["id"]

    # One cancelled (the API), one failed (its workflow's note): 1 of 3 fails within the 50 % tolerated.
    status, _ = call("POST", f"/api/v1/tasks/{created[1]['id']}/cancel", key=api_key)
    assert status == 200
    send_note(
        aws,
        {
            "event": "workflow_failed",
            "task_id": created[2]["id"],
            "attempt": 1,
            "error": {"Error": "BudgetExhausted", "Cause": "still failing after 3 attempt(s)"},
        },
    )
    run_status_syncer(aws, receive(aws["STATUS_QUEUE_URL"], 1))
    assert [task(t["id"]).status for t in created] == ["completed", "cancelled", "failed"]
    assert wait_for_execution(body["execution_arn"])["status"] == "SUCCEEDED"
    (note,) = receive(aws["STATUS_QUEUE_URL"], 1)
    assert json.loads(note["Body"])["event"] == "batch_finished"
    run_status_syncer(aws, [note])


def test_a_task_cancelled_before_its_turn_is_never_started(aws, api_key):
    tasks = [TASK, {**TASK, "title": "second"}]
    _, body = call("POST", "/api/v1/tasks/batch", batch_body(tasks=tasks, max_concurrency=1), api_key)
    first, second = body["tasks"]
    run_status_syncer(aws, receive(aws["STATUS_QUEUE_URL"], 1))
    receive(aws["PROMPT_QUEUE_URL"], 1)
    status, _ = call("POST", f"/api/v1/tasks/{second['id']}/cancel", key=api_key)
    assert status == 200
    status, _ = call("POST", f"/api/v1/tasks/{first['id']}/cancel", key=api_key)
    assert status == 200
    (turn,) = receive(aws["STATUS_QUEUE_URL"], 1)
    assert json.loads(turn["Body"])["task_id"] == second["id"]
    run_status_syncer(aws, [turn])  # answered at once: the task already ended
    assert wait_for_execution(body["execution_arn"])["status"] == "SUCCEEDED"  # moto tolerates every failure
    assert task(second["id"]).workflow_execution_arn is None
    assert nothing_waiting(aws["PROMPT_QUEUE_URL"])
    assert json.loads(receive(aws["STATUS_QUEUE_URL"], 1)[0]["Body"])["event"] == "batch_finished"


@pytest.mark.parametrize(
    "change",
    [
        {"tasks": []},
        {"tasks": [TASK] * 101},
        {"max_concurrency": 0},
        {"max_concurrency": 21},
        {"tolerated_failure_percentage": 101},
        {"tasks": [{**TASK, "complexity": 11}]},
        {"colour": "blue"},
    ],
)
def test_a_bad_batch_is_refused_and_nothing_is_created(aws, api_key, change):
    status, body = call("POST", "/api/v1/tasks/batch", batch_body(**change), api_key)
    assert status == 422, body
    with transaction() as conn:
        assert store.list_tasks(conn) == []


def test_a_batch_naming_a_repository_the_app_left_is_refused(aws, api_key):
    with transaction() as conn:
        gone = store.upsert_repository(
            conn, RepositoryRef(id=43, full_name="octo-org/elsewhere"), installation_id=7
        )
        store.deactivate_repository(conn, gone.id)
    tasks = [TASK, {**TASK, "repository": "octo-org/elsewhere"}]
    status, body = call("POST", "/api/v1/tasks/batch", batch_body(tasks=tasks), api_key)
    assert status == 422 and "octo-org/elsewhere" in body["error"]
    with transaction() as conn:
        assert store.list_tasks(conn) == []


def test_a_batch_needs_a_key(aws, api_key):
    status, _ = call("POST", "/api/v1/tasks/batch", batch_body())
    assert status == 401
