"""The ValidatePR worker end to end: the real state machine on moto, real PostgreSQL, the GitHub fake
serving real git, real commands, and the repository's own CI."""

from __future__ import annotations

import base64
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from codeloop.adapters import sandbox, workflows
from codeloop.adapters.aws import client
from codeloop.db import store, validation_store
from codeloop.db.pool import transaction
from codeloop.domain.models import Installation, NewTask, RepositoryRef
from codeloop.domain.steps import StepFailed, StepMessage, StepPending
from codeloop.domain.validation import not_run_report
from codeloop.domain.validation_request import REPORT_EVENT, ValidationRequest, ValidationResult
from codeloop.local.handlers import load
from codeloop.services.tasks.actions import create_and_start
from codeloop.services.validation import runner
from codeloop.services.validation import step as validation_step
from tests.conftest import sqs_event, take_message, wait_for_execution
from tests.fakes.github_git import GitHubWithGit, github_with_git_environment

REPO = "octo/calc"
INSTALLATION = 7
PYTEST = f"{sys.executable} -m pytest -q -p no:cacheprovider"
CALC = "def add(a, b):\n    return a + b\n"
PASSING = "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"
FAILING = "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 4\n"
CONFIG = f'validation:\n  test: ["{PYTEST} --junitxml=report.xml"]\n  include_repo_checks: true\n'


def _load_handler():
    return load("validation_runner")


def next_report(world) -> ValidationResult:
    """The runner's report on the status queue (the ledger's notes before it are taken too)."""
    while True:
        body = json.loads(take(world["aws"]["STATUS_QUEUE_URL"])["Body"])
        if body.get("event") == REPORT_EVENT:
            return ValidationResult.model_validate(body)


def run_validation_step(world, message: dict[str, Any]) -> None:
    """The ValidatePR message as on AWS: the status syncer prepares it and starts the runner (here
    through the runner queue), the runner reports on the status queue, the syncer concludes."""
    assert deliver_report(run_until_report(world, message)) == {"batchItemFailures": []}


def run_until_report(world, message: dict[str, Any]) -> ValidationResult:
    """The status syncer prepares the ValidatePR message and the runner runs it: its report, not
    delivered yet."""
    assert load("status_syncer")(sqs_event(message), None) == {"batchItemFailures": []}
    request = take(world["aws"]["VALIDATION_RUNNER_QUEUE_URL"])
    assert _load_handler()(sqs_event(request), LambdaContext()) == {"batchItemFailures": []}
    return next_report(world)


def deliver_report(report: ValidationResult) -> dict[str, Any]:
    """The runner's report as the status queue delivers it to the status syncer (again, if called again)."""
    body = {"MessageId": "m", "ReceiptHandle": "r", "Body": report.model_dump_json()}
    return load("status_syncer")(sqs_event(body), None)


def step_directly(world, message: StepMessage, remaining_millis=None) -> dict[str, Any]:
    """The step's halves without a workflow: prepare (it starts the runner), run, conclude."""
    with pytest.raises(StepPending):
        validation_step.prepare_validation_step(message)
    request = ValidationRequest.model_validate_json(take(world["aws"]["VALIDATION_RUNNER_QUEUE_URL"])["Body"])
    runner.run_request(request, remaining_millis)
    result = next_report(world)
    return validation_step.conclude(result.job, result.report)


class LambdaContext:
    function_name = "validation-runner"
    memory_limit_in_mb = 3008
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:validation-runner"
    aws_request_id = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


@pytest.fixture
def world(db_url, aws, tmp_path, monkeypatch):
    with github_with_git_environment(monkeypatch, tmp_path / "git") as fake:
        repo = fake.add_repo(REPO, installation_id=INSTALLATION)
        main = {".github/codeloop.yml": CONFIG, "calc.py": CALC, "tests/test_calc.py": PASSING}
        fake.publish(REPO, "main", main, "Initial commit")
        with transaction() as conn:
            store.upsert_installation(conn, Installation(id=INSTALLATION, account_login="octo"))
            store.upsert_repository(
                conn, RepositoryRef(id=repo.id, full_name=REPO, default_branch="main"), INSTALLATION
            )
        yield {"fake": fake, "repo": repo, "main": main, "aws": aws}


def open_pull_request(world, tests: str) -> tuple[int, str]:
    """The agent's PR: its branch changes the tests."""
    files = world["main"] | {"tests/test_calc.py": tests}
    sha = world["fake"].publish(REPO, "agent/change", files, "The agent's change")
    return world["repo"].add_pull_request(head="agent/change"), sha


def start_task(world) -> str:
    task = create_and_start(NewTask(repository_id=world["repo"].id, title="Make add work"), actor="test")
    return str(task.id)


def answer_until_validation(world, pr_number: int, head_sha: str) -> dict[str, Any]:
    """Play prompt_builder and codegen_dispatcher through their real task tokens."""
    env = world["aws"]
    for queue, output in (
        (env["PROMPT_QUEUE_URL"], {"prompt_id": "prompt-1"}),
        (env["CODEGEN_QUEUE_URL"], {"run_id": "run-1", "pr_number": pr_number, "head_sha": head_sha}),
    ):
        body = json.loads(take(queue)["Body"])
        workflows.send_success(body["task_token"], output)
    return take(env["VALIDATION_QUEUE_URL"])


def execution(task_id: str, attempt: int = 1) -> dict[str, Any]:
    arn = client("stepfunctions").list_executions(stateMachineArn=_machine_arn())["executions"]
    name = workflows.execution_name(task_id, attempt)
    return client("stepfunctions").describe_execution(
        executionArn=next(e["executionArn"] for e in arn if e["name"] == name)
    )


def _machine_arn() -> str:
    from codeloop.settings import get_settings

    return get_settings().require("state_machine_arn")


def run_row(task_id: str, attempt: int = 1) -> validation_store.ValidationRun:
    with transaction() as conn:
        row = validation_store.validation_run_for_attempt(conn, task_id, attempt)
    assert row is not None
    return row


def validation_output(task_id: str) -> dict[str, Any]:
    history = client("stepfunctions").get_execution_history(
        executionArn=execution(task_id)["executionArn"], maxResults=1000
    )["events"]
    succeeded = [
        json.loads(e["taskSucceededEventDetails"]["output"])
        for e in history
        if e["type"] == "TaskSucceeded" and "validation_run_id" in e["taskSucceededEventDetails"]["output"]
    ]
    return succeeded


# -- the worker through the real state machine -------------------------------------------------


def test_a_passing_pull_request_takes_the_execution_to_done(world):
    pr_number, head_sha = open_pull_request(world, PASSING)
    task_id = start_task(world)
    message = answer_until_validation(world, pr_number, head_sha)

    run_validation_step(world, message)

    assert wait_for_end(task_id)["status"] == "SUCCEEDED"
    row = run_row(task_id)
    [output] = validation_output(task_id)
    assert output == {
        "passed": True,
        "same_failure": False,
        "verdict": "passed",
        "validation_run_id": str(row.id),
    }
    assert (row.status, row.head_sha, row.pr_number) == ("passed", head_sha, pr_number)
    assert row.tree_sha == world["repo"].commits[head_sha]["tree"]  # a merge group of it is green
    assert row.report.commands[0].command.endswith("--junitxml=report.xml")  # main's config
    fake: GitHubWithGit = world["fake"]
    [config_read] = fake.calls_to("GET", f"/repos/{REPO}/contents/.github/codeloop.yml")
    assert config_read.query == {"ref": ["main"]}
    git_calls = [c for c in fake.calls if c.path.startswith(f"/{REPO}.git/")]
    assert git_calls and all(c.status == 200 for c in git_calls)
    secret = base64.b64decode(git_calls[-1].headers["authorization"].split()[1]).decode().split(":", 1)[1]
    token = fake.tokens[secret]
    assert token.repositories == {"calc"} and token.permissions == {"metadata": "read", "contents": "read"}


def test_the_same_failure_twice_stops_the_loop(world):
    pr_number, head_sha = open_pull_request(world, FAILING)
    task_id = start_task(world)
    run_validation_step(world, answer_until_validation(world, pr_number, head_sha))
    # Passed? → NextAttempt → BuildFixPrompt → DispatchCodegen (the agent pushed nothing new).
    run_validation_step(world, answer_until_validation(world, pr_number, head_sha))

    ended = wait_for_end(task_id)
    assert ended["status"] == "FAILED" and ended["error"] == "RepeatedFailure"
    first, second = validation_output(task_id)
    assert (first["verdict"], first["same_failure"]) == ("failed", False)
    assert (second["verdict"], second["same_failure"]) == ("failed", True)
    assert run_row(task_id, 1).failure_signature == run_row(task_id, 2).failure_signature is not None


def test_waiting_for_the_repositorys_ci_frees_the_lambda_and_the_suites_end_answer_it(world):
    fake, repo = world["fake"], world["repo"]
    pr_number, head_sha = open_pull_request(world, PASSING)
    repo.add_check_suite(head_sha, "github-actions", status="in_progress", conclusion=None)
    lint = fake.add_check_run(repo, head_sha, "lint", status="in_progress", conclusion=None)
    repo.add_check_suite(head_sha, "some-idle-app", status="queued", conclusion=None)  # never runs
    task_id = start_task(world)

    run_validation_step(world, answer_until_validation(world, pr_number, head_sha))

    row = run_row(task_id)
    assert row.status == "waiting_checks" and row.task_token and row.checks_deadline_at
    assert execution(task_id)["status"] == "RUNNING"
    assert validation_step.on_check_suite_completed(REPO, head_sha) is False  # lint still runs
    assert validation_step.sweep_waiting_validations(datetime.now(UTC)) == validation_step.SweepResult(0, 1)

    lint.update(status="completed", conclusion="success")
    repo.check_suites[0].update(status="completed", conclusion="success")
    assert validation_step.on_check_suite_completed(REPO.upper(), head_sha) is True
    assert validation_step.on_check_suite_completed(REPO, head_sha) is False  # answered once

    assert wait_for_end(task_id)["status"] == "SUCCEEDED"
    row = run_row(task_id)
    assert row.status == "passed" and row.task_token is None
    assert [(c.name, c.outcome) for c in row.report.repo_checks.checks] == [("lint", "passed")]
    assert validation_output(task_id)[0]["verdict"] == "passed"


def test_the_sweep_ends_a_wait_past_its_deadline_on_what_finished(world):
    fake, repo = world["fake"], world["repo"]
    pr_number, head_sha = open_pull_request(world, PASSING)
    repo.add_check_suite(head_sha, "github-actions", status="in_progress", conclusion=None)
    fake.add_check_run(repo, head_sha, "unit", conclusion="failure")
    fake.add_check_run(repo, head_sha, "e2e", status="in_progress", conclusion=None)
    task_id = start_task(world)
    run_validation_step(world, answer_until_validation(world, pr_number, head_sha))
    assert run_row(task_id).status == "waiting_checks"

    later = datetime.now(UTC) + timedelta(hours=2)
    assert validation_step.sweep_waiting_validations(later) == validation_step.SweepResult(1, 0)

    row = run_row(task_id)
    assert row.status == "failed" and row.summary == "Repository checks failed: unit"
    assert any("had not finished" in note and "e2e" in note for note in row.report.notes)
    # A first failure, budget left: the loop goes on to a fix prompt.
    fix = json.loads(take(world["aws"]["PROMPT_QUEUE_URL"])["Body"])
    assert (fix["step"], fix["attempt"], fix["previous_validation"]["verdict"]) == (
        "BuildFixPrompt",
        2,
        "failed",
    )


# -- the step on its own (no workflow needed: nothing waits, nothing heartbeats) ----------------


def message_for(world, pr_number: int, head_sha: str, attempt: int = 1) -> StepMessage:
    with transaction() as conn:
        task = store.create_task(conn, NewTask(repository_id=world["repo"].id, title="Fix it"))
    return StepMessage(
        task_token="token-not-used",
        execution_name=f"{task.id}-{attempt}",
        step="ValidatePR",
        task_id=str(task.id),
        attempt=attempt,
        pr_number=pr_number,
        head_sha=head_sha,
    )


def test_a_fork_pull_request_is_not_run_and_says_why(world):
    fake = world["fake"]
    pr_number, head_sha = open_pull_request(world, PASSING)
    fake.pull_request_from_fork(REPO, pr_number, "stranger/calc")
    message = message_for(world, pr_number, head_sha)

    with pytest.raises(StepFailed) as failed:
        validation_step.prepare_validation_step(message)

    assert failed.value.error == "ValidationNotRun"
    assert "fork" in failed.value.cause and "validation.forks: true" in failed.value.cause
    row = run_row(message.task_id)
    assert (row.status, row.report.not_run_reason) == ("not_run", "fork")
    assert not [c for c in fake.calls if c.path.startswith(f"/{REPO}.git/")]  # nothing fetched


def test_a_repository_without_test_commands_fails_the_step_with_the_hint(world):
    world["main"] |= {".github/codeloop.yml": "iterations: 2\n"}
    world["fake"].publish(REPO, "main", world["main"])
    pr_number, head_sha = open_pull_request(world, PASSING)
    message = message_for(world, pr_number, head_sha)

    with pytest.raises(StepFailed) as failed:
        validation_step.prepare_validation_step(message)

    assert failed.value.error == "ValidationNotRun"
    assert "Add test commands to .github/codeloop.yml" in failed.value.cause
    assert run_row(message.task_id).report.not_run_reason == "not_configured"


@pytest.mark.parametrize(
    ("changed", "pattern"),
    [
        ({".github/codeloop.yml": 'validation:\n  test: ["true"]\n'}, ".github/codeloop.yml"),
        ({".github/workflows/ci.yml": "on: push\n"}, ".github/workflows/**"),
        ({"infra/prod/main.tf": "# new\n"}, "infra/**"),
    ],
)
def test_a_pull_request_changing_protected_paths_is_not_run_and_says_which_files(world, changed, pattern):
    world["main"] |= {".github/codeloop.yml": CONFIG + 'protected_paths: ["infra/**"]\n'}
    world["fake"].publish(REPO, "main", world["main"])
    sha = world["fake"].publish(REPO, "agent/change", world["main"] | changed, "Touches a protected path")
    pr_number = world["repo"].add_pull_request(head="agent/change")
    message = message_for(world, pr_number, sha)

    with pytest.raises(StepFailed) as failed:
        validation_step.prepare_validation_step(message)

    [path] = changed
    assert failed.value.error == "ValidationNotRun"
    assert "Not run: the pull request changes protected paths" in failed.value.cause
    assert f"- `{path}` (protected by `{pattern}`)" in failed.value.cause
    row = run_row(message.task_id)
    assert (row.status, row.report.not_run_reason, row.report.commands) == ("not_run", "protected_paths", [])
    assert not [c for c in world["fake"].calls if c.path.startswith(f"/{REPO}.git/")]  # nothing fetched
    assert world["fake"].calls_to("GET", f"/repos/{REPO}/pulls/{pr_number}/files")  # GitHub's list of files


def open_pull_request_of_two_files(world, listed_files_limit: int) -> tuple[int, str]:
    """The agent's PR changes two files; GitHub lists at most ``listed_files_limit`` of them."""
    world["repo"].listed_files_limit = listed_files_limit  # GitHub's is 3,000
    changed = {"calc.py": CALC + "# checked\n", "tests/test_calc.py": PASSING + "# checked\n"}
    sha = world["fake"].publish(REPO, "agent/change", world["main"] | changed, "Two files")
    return world["repo"].add_pull_request(head="agent/change"), sha


def test_a_pull_request_whose_file_list_github_cut_short_is_not_run(world):
    pr_number, head_sha = open_pull_request_of_two_files(world, listed_files_limit=1)
    message = message_for(world, pr_number, head_sha)

    with pytest.raises(StepFailed) as failed:
        validation_step.prepare_validation_step(message)

    assert failed.value.error == "ValidationNotRun"
    assert "the file list is incomplete (GitHub lists 1 of 2 changed files)" in failed.value.cause
    row = run_row(message.task_id)
    assert (row.status, row.report.not_run_reason, row.report.commands) == ("not_run", "protected_paths", [])
    assert not [c for c in world["fake"].calls if c.path.startswith(f"/{REPO}.git/")]  # nothing fetched


def test_a_pull_request_whose_files_github_lists_in_full_is_run(world):
    pr_number, head_sha = open_pull_request_of_two_files(world, listed_files_limit=2)

    with pytest.raises(StepPending):
        validation_step.prepare_validation_step(message_for(world, pr_number, head_sha))

    request = ValidationRequest.model_validate_json(take(world["aws"]["VALIDATION_RUNNER_QUEUE_URL"])["Body"])
    assert request.changed_paths == ["calc.py", "tests/test_calc.py"]


def test_a_check_already_failing_on_the_base_branch_is_not_blamed(world):
    fake, repo = world["fake"], world["repo"]
    base_sha = repo.refs["main"]
    fake.add_check_run(repo, base_sha, "docs-link-check", conclusion="failure")
    pr_number, head_sha = open_pull_request(world, PASSING)
    repo.add_check_suite(head_sha, "github-actions", conclusion="failure")
    fake.add_check_run(repo, head_sha, "docs-link-check", conclusion="failure")
    fake.add_check_run(repo, head_sha, "unit", conclusion="success")

    output = step_directly(world, message_for(world, pr_number, head_sha))

    assert (output["passed"], output["verdict"]) == (True, "passed")
    report = validation_store_report(output)
    assert {c.name: c.outcome for c in report.repo_checks.checks} == {
        "docs-link-check": "failing_on_base",
        "unit": "passed",
    }
    assert any("Already failing on the base branch" in note for note in report.notes)
    assert report.summary.endswith("; repository checks: 1 passed, 1 already failing on the base branch")


def test_a_check_failing_only_on_the_pull_request_fails_it(world):
    fake, repo = world["fake"], world["repo"]
    pr_number, head_sha = open_pull_request(world, PASSING)
    repo.add_check_suite(head_sha, "github-actions", conclusion="failure")
    fake.add_check_run(repo, head_sha, "typecheck", conclusion="failure")
    fake.add_check_run(
        repo, head_sha, "codeloop", app_slug=fake.app_slug, conclusion="failure"
    )  # ours: ignored

    output = step_directly(world, message_for(world, pr_number, head_sha))

    assert (output["passed"], output["verdict"], output["same_failure"]) == (False, "failed", False)
    report = validation_store_report(output)
    assert report.summary == "Repository checks failed: typecheck"
    assert [c.name for c in report.repo_checks.checks] == ["typecheck"]


def test_codeloop_knows_its_own_checks_by_app_id_whatever_the_app_is_called(world):
    fake, repo = world["fake"], world["repo"]
    fake.app_slug = "acme-review-bot"  # codeloop installed under another name: only its App id says so
    pr_number, head_sha = open_pull_request(world, PASSING)
    repo.add_check_suite(head_sha, fake.app_slug, status="in_progress", conclusion=None)
    fake.add_check_run(
        repo, head_sha, "codeloop", app_slug=fake.app_slug, status="in_progress", conclusion=None
    )
    fake.add_check_run(repo, head_sha, "unit", conclusion="success")

    output = step_directly(world, message_for(world, pr_number, head_sha))

    assert (output["passed"], output["verdict"]) == (True, "passed")  # nothing of its own waited for
    assert [c.name for c in validation_store_report(output).repo_checks.checks] == ["unit"]


def test_heartbeats_reach_step_functions_while_commands_run(world, monkeypatch):
    world["main"] |= {
        ".github/codeloop.yml": 'validation:\n  test: ["sleep 1"]\n  include_repo_checks: false\n'
    }
    world["fake"].publish(REPO, "main", world["main"])
    pr_number, head_sha = open_pull_request(world, PASSING)
    task_id = start_task(world)
    message = StepMessage.model_validate_json(answer_until_validation(world, pr_number, head_sha)["Body"])
    monkeypatch.setattr(sandbox, "HEARTBEAT_SECONDS", 0.2)
    sent: list[tuple[str, Exception | None]] = []
    real = workflows.send_heartbeat

    def recording(token: str) -> None:
        try:
            real(token)
        except Exception as exc:
            sent.append((token, exc))
            raise
        sent.append((token, None))

    monkeypatch.setattr(workflows, "send_heartbeat", recording)

    output = step_directly(world, message, remaining_millis=lambda: 900_000)

    assert output["passed"] is True
    assert len(sent) >= 2 and {entry for entry in sent} == {(message.task_token, None)}
    assert execution(task_id)["status"] == "RUNNING"  # answered by the worker, not by the step


def test_the_budget_is_the_lambdas_remaining_time_minus_the_margin(monkeypatch):
    monkeypatch.setenv("VALIDATION_REPORT_MARGIN_SECONDS", "45")
    monkeypatch.setenv("VALIDATION_BUDGET_SECONDS", "300")
    assert runner.budget_seconds(lambda: 600_000) == 555
    assert runner.budget_seconds(None) == 300


def validation_store_report(output: dict[str, Any]):
    with transaction() as conn:
        row = validation_store.get_validation_run(conn, output["validation_run_id"])
    return row.report


def test_step_pending_is_raised_without_an_answer(world):
    """Waiting stores the token with the row and raises StepPending (the worker then answers nothing)."""
    repo = world["repo"]
    pr_number, head_sha = open_pull_request(world, PASSING)
    repo.add_check_suite(head_sha, "github-actions", status="queued", conclusion=None)
    world["fake"].add_check_run(repo, head_sha, "build", status="queued", conclusion=None)
    message = message_for(world, pr_number, head_sha)

    with pytest.raises(StepPending):
        step_directly(world, message)

    row = run_row(message.task_id)
    assert (row.status, row.task_token, row.execution_name) == (
        "waiting_checks",
        "token-not-used",
        message.execution_name,
    )


def take(queue_url: str, timeout: float = 20.0) -> dict[str, Any]:
    return take_message(queue_url, timeout=timeout, delete=True)


def wait_for_end(task_id: str, attempt: int = 1) -> dict[str, Any]:
    return wait_for_execution(execution(task_id, attempt)["executionArn"])


def test_a_report_for_no_waiting_step_is_dropped(world):
    """The runner cannot speak for a task: a report whose token the workflow did not give for a
    running step of that task stores nothing and answers nothing."""
    pr_number, head_sha = open_pull_request(world, PASSING)
    task_id = start_task(world)
    real = json.loads(answer_until_validation(world, pr_number, head_sha)["Body"])
    load("status_syncer")(sqs_event({"MessageId": "m", "ReceiptHandle": "r", "Body": json.dumps(real)}), None)
    request = ValidationRequest.model_validate_json(take(world["aws"]["VALIDATION_RUNNER_QUEUE_URL"])["Body"])
    forged_job = request.job.model_copy(update={"task_token": "a-token-of-my-choosing"})
    forged = ValidationResult(job=forged_job, report=not_run_report("fork", head_sha))

    validation_step.finish_validation(forged)

    with transaction() as conn:
        assert validation_store.validation_run_for_attempt(conn, task_id, 1) is None
    assert execution(task_id)["status"] == "RUNNING"
