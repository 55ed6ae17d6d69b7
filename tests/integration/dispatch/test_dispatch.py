"""The codegen_dispatcher Lambda: real executions and task tokens, the provider fakes on loopback."""

import json

from codeloop.adapters.aws import client
from codeloop.db import dispatch_store, store
from codeloop.db.pool import transaction
from tests.conftest import receive_all, wait_for_execution
from tests.integration.dispatch.conftest import (
    codegen_creates,
    dispatch,
    open_every_breaker,
    start_task,
    take_one,
    warm_codegen,
)


def run_row(task):
    with transaction() as conn:
        return dispatch_store.get_run(conn, task.id, task.attempt)


def test_an_agent_run_is_created_and_the_step_waits_with_its_token_stored(world):
    task, message = start_task(world)

    assert dispatch(world, message) == {"batchItemFailures": []}

    [create] = codegen_creates(world)
    assert create.body["prompt"] == "Fix the crash on empty input"
    assert create.body["metadata"]["codeloop_task_id"] == str(task.id)
    run = run_row(task)
    body = json.loads(message["Body"])
    assert (run.provider, run.status, run.task_token) == ("codegen", "queued", body["task_token"])
    assert run.external_id == str(create_id(world))
    assert run.deadline_at is not None and run.answered_at is None
    with transaction() as conn:
        assert store.require_task(conn, task.id).agent_run_url == run.web_url
    assert wait_for_execution(task.workflow_execution_arn, "RUNNING")


def create_id(world) -> int:
    [run_id] = world["codegen"].runs
    return run_id


def test_the_same_message_delivered_twice_creates_one_run(world):
    _task, message = start_task(world)
    assert dispatch(world, message) == {"batchItemFailures": []}
    assert dispatch(world, message) == {"batchItemFailures": []}
    assert len(codegen_creates(world)) == 1
    assert len(world["codegen"].runs) == 1


def test_a_create_that_times_out_after_the_run_was_made_is_reconciled_not_repeated(world, monkeypatch):
    import httpx

    task, message = start_task(world)
    codegen = warm_codegen()
    monkeypatch.setattr(
        codegen, "_timeout", httpx.Timeout(0.5, connect=0.5)
    )  # give up before the fake answers
    world["codegen"].fail_next(1, "after_handling_hang")

    assert dispatch(world, message) == {"batchItemFailures": []}

    assert len(codegen_creates(world)) == 1
    assert len(world["codegen"].runs) == 1
    listed = world["codegen"].calls_to("GET", f"/v1/organizations/{world['codegen'].org_id}/agent/runs")
    assert listed, "the unknown outcome was reconciled with find_run"
    run = run_row(task)
    assert run.external_id == str(next(iter(world["codegen"].runs)))
    # A redelivery finds the recorded run and creates nothing.
    assert dispatch(world, message) == {"batchItemFailures": []}
    assert len(codegen_creates(world)) == 1


def test_the_eleventh_create_within_a_minute_goes_back_to_the_queue_for_later(world):
    from datetime import UTC, datetime

    with transaction() as conn:
        now = datetime.now(UTC)
        for _ in range(10):
            assert dispatch_store.take_token(
                conn, "codegen", now, 10, __import__("datetime").timedelta(minutes=1)
            ).granted
    task, message = start_task(world)

    assert dispatch(world, message) == {"batchItemFailures": []}

    assert codegen_creates(world) == []
    assert run_row(task) is None
    attributes = client("sqs").get_queue_attributes(
        QueueUrl=world["aws"]["CODEGEN_QUEUE_URL"], AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"


def test_plan_limit_fails_the_execution(world):
    task, message = start_task(world)
    warm_codegen()
    world["codegen"].fail_next(1, "status", status=402, body={"message": "Plan limit reached"})

    assert dispatch(world, message) == {"batchItemFailures": []}

    described = wait_for_execution(task.workflow_execution_arn, "FAILED")
    assert described["error"] == "PlanLimitReached"
    run = run_row(task)
    assert run.status == "failed" and "Plan limit reached" in run.error
    assert len(codegen_creates(world)) == 1


def test_an_open_breaker_falls_back_to_the_diff_provider_which_pushes_a_branch_and_opens_a_pr(world):
    from datetime import UTC, datetime

    from codeloop.services.agents.providers import breaker_policy

    with transaction() as conn:
        for _ in range(2):
            dispatch_store.breaker_failure(conn, "codegen", datetime.now(UTC), breaker_policy())
    world["openai"].script(
        "Return None for empty input.\n```diff\n--- a/src/widgets/core.py\n+++ b/src/widgets/core.py\n"
        "@@ -1,2 +1,4 @@\n def parse(text):\n+    if not text:\n+        return None\n     return text.split()[0]\n```\n"
    )
    task, message = start_task(world)

    assert dispatch(world, message) == {"batchItemFailures": []}

    assert codegen_creates(world) == []
    files = world["github"].branch_files("octo/widgets", f"codeloop/task-{str(task.id)[:8]}")
    assert files["src/widgets/core.py"] == (
        "def parse(text):\n    if not text:\n        return None\n    return text.split()[0]\n"
    )
    [pull] = world["repo"].pulls.values()
    assert pull["head"] == f"codeloop/task-{str(task.id)[:8]}" and pull["base"] == "main"
    with transaction() as conn:
        stored = store.require_task(conn, task.id)
    assert stored.pr_number == pull["number"] and stored.head_sha
    validate = json.loads(take_one(world["aws"]["VALIDATION_QUEUE_URL"])["Body"])
    assert (validate["step"], validate["pr_number"], validate["head_sha"]) == (
        "ValidatePR",
        pull["number"],
        stored.head_sha,
    )


def test_a_diff_that_does_not_apply_is_a_failed_run_with_the_reason(world, monkeypatch):
    monkeypatch.setenv("PROVIDERS", "openai")
    from codeloop.settings import reset_settings

    reset_settings()
    world["openai"].script(
        "```diff\n--- a/src/widgets/core.py\n+++ b/src/widgets/core.py\n"
        "@@ -1,2 +1,2 @@\n def parse(words):\n-    return words[0]\n+    return words[-1]\n```\n"
    )
    task, message = start_task(world)

    assert dispatch(world, message) == {"batchItemFailures": []}

    described = wait_for_execution(task.workflow_execution_arn, "FAILED")
    assert described["error"] == "DiffDoesNotApply"
    assert world["repo"].pulls == {}
    run = run_row(task)
    assert (run.provider, run.status) == ("openai", "failed")
    assert "src/widgets/core.py: hunk 1" in run.error


def test_every_provider_unavailable_leaves_the_task_waiting_visibly(world):
    open_every_breaker()
    task, message = start_task(world)

    assert dispatch(world, message) == {"batchItemFailures": []}

    with transaction() as conn:
        assert store.require_task(conn, task.id).status == "waiting_provider"
        [wait] = dispatch_store.provider_waits(conn)
    assert wait.message["task_token"] == json.loads(message["Body"])["task_token"]
    notes = [m["body"]["event"] for m in receive_all(world["aws"]["STATUS_QUEUE_URL"])]
    assert "waiting_provider" in notes
