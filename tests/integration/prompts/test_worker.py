"""The prompt_builder Lambda against real PostgreSQL, the local AWS emulation and the GitHub fake:
a real execution of the state machine, a real task token, the step answered."""

import json
from datetime import UTC, datetime

import pytest

from codeloop.db import prompts_store, validation_store
from codeloop.db.pool import transaction
from codeloop.domain.steps import StepFailed, StepMessage
from codeloop.domain.validation import Annotation, CommandResult, ValidationReport
from codeloop.local.handlers import load
from codeloop.services.prompting.builder import build_prompt_step
from codeloop.services.tasks.actions import create_and_start
from tests.conftest import receive_all, sqs_event
from tests.conftest import take_message as take_one
from tests.conftest import wait_for_execution as wait_for_status
from tests.integration.prompts.conftest import insert_task, new_task


def handler():
    return load("prompt_builder")


def run_build_prompt(world, aws, **task_fields):
    task = create_and_start(new_task(world, **task_fields), actor="test")
    message = take_one(aws["PROMPT_QUEUE_URL"])
    body = json.loads(message["Body"])
    assert (body["step"], body["kind"], body["task_id"]) == ("BuildPrompt", "initial", str(task.id))
    result = handler()(sqs_event(message, aws["PROMPT_QUEUE_URL"]), None)
    assert result == {"batchItemFailures": []}
    return task


def test_the_worker_answers_the_task_token_and_the_execution_moves_on_to_dispatch(world, aws):
    task = run_build_prompt(world, aws)

    dispatch = json.loads(take_one(aws["CODEGEN_QUEUE_URL"])["Body"])
    assert (dispatch["step"], dispatch["task_id"], dispatch["attempt"]) == (
        "DispatchCodegen",
        str(task.id),
        1,
    )
    with transaction() as conn:
        row = prompts_store.get_rendered(conn, dispatch["prompt_id"])
    assert (row.task_id, row.attempt, row.kind) == (task.id, 1, "initial")
    assert (row.template_id, row.template_version) == ("bug_fix", 1)
    assert "serves 'bug_fix'" in row.selection_reason
    assert row.size_chars == len(row.body) and row.context_chars > 0 and row.context_budget == 60_000
    assert row.sha256 and row.template_sha256
    assert {p["name"] for p in row.context_manifest["pieces"]} >= {"repository", "file:src/widgets/core.py"}
    assert {m["name"] for m in row.gathering} >= {"repository", "file_tree", "file:src/widgets/core.py"}
    assert "pytest -q" in row.body  # the repository's validation commands
    assert "parse() in core.py crashes" in row.body


def step_error(conn, task) -> str:
    """What the ledger recorded for the failed step (the emulator drops SendTaskFailure's cause)."""
    return conn.execute(
        "select s.error from workflow_steps s join workflow_executions e on e.id = s.execution_id "
        "where e.task_id = %s and s.status = 'failed'",
        (task.id,),
    ).fetchone()["error"]


def test_a_bad_pin_fails_the_step_visibly_and_the_execution_records_the_failure(world, aws, conn):
    world["repo"].commit_files(
        "main", {".github/codeloop.yml": "prompts:\n  bug_fix: {template: bug_fix, version: 9}\n"}
    )
    task = run_build_prompt(world, aws)

    described = wait_for_status(task.workflow_execution_arn, "FAILED")
    assert described["error"] == "PromptSelection"
    assert "pins prompts.bug_fix to 'bug_fix' version 9" in step_error(conn, task)
    notes = [m["body"] for m in receive_all(aws["STATUS_QUEUE_URL"])]
    failed = [n for n in notes if n["event"] == "workflow_failed"]
    assert failed and failed[0]["error"]["Error"] == "PromptSelection"
    assert receive_all(aws["CODEGEN_QUEUE_URL"]) == []


def test_an_invalid_repository_config_fails_the_step_as_config_invalid(world, aws, conn):
    world["repo"].commit_files("main", {".github/codeloop.yml": "iterations: eleven\n"})
    task = run_build_prompt(world, aws)
    described = wait_for_status(task.workflow_execution_arn, "FAILED")
    assert described["error"] == "ConfigInvalid"
    assert step_error(conn, task).startswith("ConfigInvalid: .github/codeloop.yml: iterations")


def step_message(task, attempt: int, **extra) -> StepMessage:
    return StepMessage(
        task_token="token-not-used",
        execution_name=f"{task.id}-{attempt}",
        step="BuildFixPrompt" if extra.get("kind") == "fix" else "BuildPrompt",
        task_id=str(task.id),
        attempt=attempt,
        **extra,
    )


def fix_prompt_after(task, report: ValidationReport, head: str, number: int):
    """Attempt 2's BuildFixPrompt message and its stored prompt, after attempt 1's validation
    ended with ``report``."""
    with transaction() as conn:
        run = validation_store.save_validation_run(
            conn,
            task_id=task.id,
            attempt=1,
            report=report,
            status="failed",
            head_sha=head,
            started_at=datetime.now(UTC),
        )
    message = step_message(
        task,
        2,
        kind="fix",
        previous_codegen={"run_id": "r-1", "pr_number": number, "head_sha": head},
        previous_validation={
            "validation_run_id": str(run.id),
            "verdict": "failed",
            "same_failure": False,
            "passed": False,
        },
    )
    prompt_id = build_prompt_step(message)["prompt_id"]
    with transaction() as conn:
        return message, prompts_store.get_rendered(conn, prompt_id)


def test_a_fix_prompt_carries_the_failures_annotations_and_earlier_attempts(world):
    repo = world["repo"]
    head = repo.commit_files(
        "codeloop/fix", {"src/widgets/core.py": "def parse(text):\n    return text[0]\n"}
    )
    number = repo.add_pull_request("codeloop/fix", title="Return None on empty input")
    task = insert_task(world)
    report = ValidationReport(
        verdict="failed",
        summary="1 test failed",
        head_sha=head,
        commands=[
            CommandResult(
                phase="test",
                command="pytest -q",
                exit_code=1,
                duration_seconds=1.5,
                output="E   IndexError: string index out of range\n1 failed",
                output_bytes=50,
            )
        ],
        annotations=[
            Annotation(
                path="src/widgets/core.py",
                start_line=2,
                end_line=2,
                annotation_level="failure",
                message="IndexError: string index out of range",
            )
        ],
        failure_signature="sig-1",
    )
    message, row = fix_prompt_after(task, report, head, number)
    assert (row.kind, row.attempt, row.template_id) == ("fix", 2, "fix_failing_checks")
    assert "IndexError: string index out of range" in row.body
    assert "src/widgets/core.py:2" in row.body
    assert "Attempt 1: agent run not started; validation failed" in row.body
    assert f"#{number}" in row.body
    # the same message again (a redelivery) answers with the stored prompt
    assert build_prompt_step(message)["prompt_id"] == str(row.id)


def test_a_task_without_templates_in_the_database_fails_with_a_hint(world, conn):
    conn.execute("delete from prompt_templates")
    conn.commit()
    with pytest.raises(StepFailed, match="codeloop prompts sync") as failed:
        build_prompt_step(step_message(insert_task(world), 1, kind="initial"))
    assert failed.value.error == "PromptSelection"


def test_a_template_needing_a_variable_that_is_not_given_fails_as_prompt_render(world, conn):
    body = "{#---\nid: strict\ntask_types: [bug_fix]\ndescription: x\nvariables: [task, ticket]\n---#}\n{{ task.request }} {{ ticket }}\n"
    meta = {
        "id": "strict",
        "task_types": ["bug_fix"],
        "complexity": [1, 5],
        "description": "x",
        "variables": ["task", "ticket"],
    }
    prompts_store.upsert_template(conn, "strict", "x", ["bug_fix"], (1, 5))
    prompts_store.insert_version(conn, "strict", body, {"meta": meta, "partials": {}}, "hash-strict")
    conn.commit()
    world["repo"].commit_files("main", {".github/codeloop.yml": "prompts:\n  bug_fix: strict\n"})
    with pytest.raises(StepFailed) as failed:
        build_prompt_step(step_message(insert_task(world), 1, kind="initial"))
    assert failed.value.error == "PromptRender"
    assert "'ticket'" in failed.value.cause
