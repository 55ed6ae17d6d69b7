"""Task views in the main states, built the way the status syncer fills them from PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from codeloop.domain.models import WorkflowStep
from codeloop.domain.report import AgentRunView, AttemptView, FailureInfo, TaskFacts, TaskView
from codeloop.domain.validation import ValidationReport, not_run_report

TASK_ID = "5f0c6a52-8d1e-4c6b-9a51-0c2f3e1d7b90"
T0 = datetime(2024, 5, 6, 14, 0, tzinfo=UTC)
REPO_URL = "https://github.example.com/octo-org/widgets"


def step(name: str, attempt: int, status: str, start_s: int, seconds: int | None, error: str | None = None):
    started = T0 + timedelta(seconds=start_s)
    finished = started + timedelta(seconds=seconds) if seconds is not None else None
    return WorkflowStep(
        step=name,
        attempt=attempt,
        status=status,
        error=error,
        started_at=started,
        finished_at=finished,
        duration_ms=seconds * 1000 if seconds is not None else None,
    )


# One failing test, as GitHub's check-run annotation.
FAILED_TEST_ANNOTATION = {
    "path": "tests/test_cli.py",
    "start_line": 12,
    "end_line": 12,
    "annotation_level": "failure",
    "message": "assert '{' == '['",
    "title": "tests.test_cli::test_json failed",
}


def failed_report(signature: str = "sig-a", **changes: Any) -> ValidationReport:
    report = {
        "verdict": "failed",
        "summary": "Tests failed: 2 failing tests",
        "head_sha": "a1b2c3d4e5f6a7b8c9d0",
        "commands": [
            {
                "phase": "setup",
                "command": "pip install -e .",
                "exit_code": 0,
                "duration_seconds": 12.3,
                "output": "Successfully installed widgets",
                "output_bytes": 30,
            },
            {
                "phase": "test",
                "command": "pytest -q",
                "exit_code": 1,
                "duration_seconds": 4.2,
                "output": "F.F\n2 failed, 1 passed in 0.1s",
                "output_bytes": 40,
            },
        ],
        "results_source": "junit",
        "failures": [
            {
                "name": "test_json",
                "suite": "tests.test_cli",
                "file": "tests/test_cli.py",
                "line": 12,
                "message": "assert '{' == '['",
                "details": "tests/test_cli.py:12: AssertionError",
                "framework": "junit",
            },
            {
                "name": "test_flag",
                "suite": "tests.test_cli",
                "file": "tests/test_cli.py",
                "line": 20,
                "message": "KeyError: 'json'",
                "details": "",
                "kind": "error",
                "framework": "junit",
            },
        ],
        "failures_total": 2,
        "annotations": [FAILED_TEST_ANNOTATION],
        "failure_signature": signature,
        "duration_seconds": 16.5,
    }
    report.update(changes)
    return ValidationReport.model_validate(report)


def two_failed_attempts(first_signature: str, second_signature: str) -> list[AttemptView]:
    """Attempts 1 and 2, both failed validation (alike when the signatures are the same)."""
    return [
        AttemptView(number=n, agent_run=agent(n), validation=failed_report(signature), check_run_id=776 + n)
        for n, signature in ((1, first_signature), (2, second_signature))
    ]


def passed_report() -> ValidationReport:
    return ValidationReport.model_validate(
        {
            "verdict": "passed",
            "summary": "Passed: 1 test command succeeded",
            "head_sha": "f00dfeedf00dfeedf00d",
            "commands": [
                {
                    "phase": "test",
                    "command": "pytest -q",
                    "exit_code": 0,
                    "duration_seconds": 3.0,
                    "output": "3 passed in 0.2s",
                    "output_bytes": 16,
                }
            ],
            "duration_seconds": 3.0,
        }
    )


def view(status: str, attempt: int = 1, **changes: Any) -> TaskView:
    task = {
        "id": TASK_ID,
        "title": "Add a --json flag to the CLI",
        "type": "feature",
        "status": status,
        "attempt": attempt,
        "requested_by": "alice",
        "source": "comment",
        "issue_number": 12,
        "pr_number": 34 if attempt else None,
        "head_sha": "a1b2c3d4e5f6a7b8c9d0",
        "created_at": T0,
        **changes.pop("task", {}),
    }
    return TaskView(
        task=TaskFacts.model_validate(task),
        repository="octo-org/widgets",
        repository_url=REPO_URL,
        max_attempts=changes.pop("max_attempts", 3),
        **changes,
    )


def agent(number: int) -> AgentRunView:
    return AgentRunView(
        provider="codegen", web_url=f"https://codegen.com/agent/trace/{1000 + number}", status="completed"
    )


FIRST_STEPS = [
    step("BuildPrompt", 1, "succeeded", 0, 2),
    step("DispatchCodegen", 1, "succeeded", 2, 305),
    step("ValidatePR", 1, "succeeded", 310, 17),
]
SECOND_STEPS = [
    step("BuildFixPrompt", 2, "succeeded", 330, 1),
    step("DispatchCodegen", 2, "succeeded", 331, 200),
    step("ValidatePR", 2, "succeeded", 540, 16),
]


def states() -> dict[str, TaskView]:
    """The main states, by name: each is one snapshot."""
    return {
        "queued": view("queued", steps=[]),
        "running": view(
            "validating",
            steps=[*FIRST_STEPS[:2], step("ValidatePR", 1, "running", 310, None)],
            attempts=[
                AttemptView(
                    number=1, agent_run=agent(1), validation_status="running", check_run_id=777, pr_number=34
                )
            ],
        ),
        "waiting_provider": view(
            "waiting_provider",
            steps=[step("BuildPrompt", 1, "succeeded", 0, 2), step("DispatchCodegen", 1, "running", 2, None)],
            attempts=[AttemptView(number=1)],
        ),
        "passed": view(
            "completed",
            attempt=2,
            task={"completed_at": T0 + timedelta(minutes=10)},
            steps=[*FIRST_STEPS, *SECOND_STEPS],
            attempts=[
                AttemptView(
                    number=1, agent_run=agent(1), validation=failed_report(), check_run_id=777, pr_number=34
                ),
                AttemptView(
                    number=2,
                    agent_run=agent(2),
                    validation=passed_report(),
                    check_run_url=f"{REPO_URL}/runs/778",
                    pr_number=34,
                ),
            ],
        ),
        "failed_attempt_then_fixing": view(
            "prompting",
            attempt=2,
            steps=[*FIRST_STEPS, step("BuildFixPrompt", 2, "running", 330, None)],
            attempts=[
                AttemptView(number=1, agent_run=agent(1), validation=failed_report(), check_run_id=777),
                AttemptView(number=2),
            ],
        ),
        "waiting_for_repository_checks": view(
            "validating",
            steps=[*FIRST_STEPS[:2], step("ValidatePR", 1, "running", 310, None)],
            attempts=[
                AttemptView(
                    number=1, agent_run=agent(1), validation_status="waiting_checks", check_run_id=777
                )
            ],
        ),
        "budget_exhausted": view(
            "failed",
            attempt=2,
            max_attempts=2,
            failure=FailureInfo(
                error="BudgetExhausted",
                cause="Validation still fails after 2 attempt(s): the iteration budget is spent.",
            ),
            steps=[*FIRST_STEPS, *SECOND_STEPS],
            attempts=two_failed_attempts("sig-a", "sig-b"),
        ),
        "repeated_failure": view(
            "failed",
            attempt=2,
            task={
                "error_log": [
                    {
                        "at": "2024-05-06T14:09:00+00:00",
                        "step": "ValidatePR",
                        "error": "RepeatedFailure: Validation failed the same way as on the previous attempt",
                    }
                ]
            },
            steps=[*FIRST_STEPS, *SECOND_STEPS],
            attempts=two_failed_attempts("sig-a", "sig-a"),
        ),
        "not_configured": view(
            "failed",
            steps=FIRST_STEPS,
            failure=FailureInfo(error="NotConfigured", cause="no test commands", step="ValidatePR"),
            attempts=[
                AttemptView(
                    number=1,
                    agent_run=agent(1),
                    validation=not_run_report("not_configured", "a1b2c3d4e5f6a7b8c9d0"),
                    check_run_id=777,
                )
            ],
        ),
        "step_failed": view(
            "failed",
            steps=[
                step("BuildPrompt", 1, "succeeded", 0, 2),
                step(
                    "DispatchCodegen",
                    1,
                    "failed",
                    2,
                    3,
                    error="PlanLimit: the Codegen plan's run limit is reached",
                ),
            ],
            failure=FailureInfo(
                error="PlanLimit",
                cause="The Codegen API answered 402: the plan's run limit is reached.",
                step="DispatchCodegen",
            ),
            attempts=[AttemptView(number=1, check_run_id=777)],
        ),
        "timed_out": view(
            "failed",
            steps=[
                *FIRST_STEPS[:2],
                step("ValidatePR", 1, "failed", 310, 7200, error="States.HeartbeatTimeout"),
            ],
            failure=FailureInfo(error="States.HeartbeatTimeout", cause="", step="ValidatePR"),
            attempts=[
                AttemptView(number=1, agent_run=agent(1), validation_status="running", check_run_id=777)
            ],
        ),
        "cancelled": view(
            "cancelled",
            task={
                "error_log": [
                    {"at": "2024-05-06T14:03:00+00:00", "step": "cancel", "error": "cancelled by @bob"}
                ]
            },
            cancelled_by="bob",
            steps=FIRST_STEPS[:2],
            attempts=[AttemptView(number=1, agent_run=agent(1), check_run_id=777)],
        ),
    }
