"""validation.review through the real ValidatePR step: the status syncer asks the OpenAI-compatible
fake once the runner's report is back (the runner never sees the provider), and the answer
becomes the report's review: annotations, a blocking failure, or a clear note."""

from __future__ import annotations

import json

import pytest

from codeloop.db.pool import transaction
from codeloop.domain.models import NewTask
from codeloop.domain.report import AttemptView, CheckRunRender, render_check_run
from codeloop.domain.validation import ValidationReport
from codeloop.settings import reset_settings
from tests.fakes.openai_api import FakeOpenAIApi
from tests.integration.validation.test_validation_step import (
    CONFIG,
    PASSING,
    REPO,
    answer_until_validation,
    open_pull_request,
    run_row,
    run_validation_step,
    take,
    validation_output,
    wait_for_end,
)
from tests.integration.validation.test_validation_step import world as world
from tests.unit.report.views import view

FINDING = {
    "file": "tests/test_calc.py",
    "line": 5,
    "severity": "error",
    "message": "add(1, 2) is not checked for floats",
}
OFF_DIFF = {"file": "calc.py", "line": 1, "severity": "notice", "message": "consider type hints"}


def checked(report: ValidationReport) -> CheckRunRender:
    """The check run the status syncer renders for a task whose one attempt has ``report``."""
    status = "completed" if report.verdict == "passed" else "failed"
    return render_check_run(
        view(status, attempts=[AttemptView(number=1, validation=report, pr_number=34)]), 1
    )


def review_config(**review) -> str:
    fields = ", ".join(f"{key}: {json.dumps(value)}" for key, value in review.items())
    return (
        CONFIG.replace("include_repo_checks: true", "include_repo_checks: false")
        + f"  review: {{{fields}}}\n"
    )


@pytest.fixture
def reviewer(monkeypatch):
    with FakeOpenAIApi() as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", fake.api_key)
        monkeypatch.setenv("OPENAI_MODEL", "reviewer-model")
        reset_settings()
        yield fake


def validate(world, config: str, *, criteria: list[str] | None = None):
    """One task's ValidatePR through the state machine, with ``config`` on the default branch."""
    world["main"] |= {".github/codeloop.yml": config}
    world["fake"].publish(REPO, "main", world["main"])
    pr_number, head_sha = open_pull_request(world, PASSING + "\n\ndef test_more():\n    assert True\n")
    from codeloop.services.tasks.actions import create_and_start

    task = create_and_start(
        NewTask(repository_id=world["repo"].id, title="Make add work", acceptance_criteria=criteria or []),
        actor="test",
    )
    message = answer_until_validation(world, pr_number, head_sha)
    run_validation_step(world, message)
    return str(task.id)


def test_a_blocking_review_that_requests_changes_fails_a_passing_attempt(world, reviewer):
    reviewer.script(
        json.dumps(
            {"verdict": "request_changes", "summary": "Floats are untested.", "findings": [FINDING, OFF_DIFF]}
        )
    )
    task_id = validate(
        world,
        review_config(enabled=True, blocking=True, instructions="Insist on tests."),
        criteria=["add() handles floats"],
    )

    [output] = validation_output(task_id)
    assert (output["passed"], output["verdict"]) == (False, "failed")
    report = run_row(task_id).report
    assert report.summary == "AI review requested changes (2 findings, blocking)"
    assert report.review.status == "reviewed" and report.review.blocks
    assert report.failure_signature is not None
    # What the reviewer was shown: the diff, the criteria and the results, fenced as data; the
    # maintainers' instructions as instructions. Through the one OpenAI-compatible call path.
    [call] = reviewer.calls
    assert call.path == "/v1/chat/completions" and call.body["model"] == "reviewer-model"
    user = call.body["messages"][1]["content"]
    assert '<untrusted-data id="' in user and 'source="pull request diff"' in user
    assert "+def test_more():" in user and "add() handles floats" in user
    assert "test: " in user and "-> ok" in user  # the results
    assert user.rstrip().endswith("Insist on tests.")
    # The check run: the finding on a file of the diff is an annotation (a failure: it blocks),
    # the other is listed in the review's section only.
    render = checked(report)
    assert [(a["path"], a["start_line"], a["annotation_level"]) for a in render.annotations] == [
        ("tests/test_calc.py", 5, "failure")
    ]
    assert "### AI review" in render.text and "not a file of the diff: not annotated" in render.text


def test_a_review_that_does_not_block_only_annotates(world, reviewer):
    reviewer.script(json.dumps({"verdict": "request_changes", "summary": "nits", "findings": [FINDING]}))
    task_id = validate(world, review_config(enabled=True))

    assert wait_for_end(task_id)["status"] == "SUCCEEDED"
    report = run_row(task_id).report
    assert (
        report.verdict == "passed" and report.review.verdict == "request_changes" and not report.review.blocks
    )
    render = checked(report)
    assert [a["annotation_level"] for a in render.annotations] == ["warning"]
    with transaction() as conn:  # the review's model call is in the task's cost ledger
        rows = conn.execute("select prompt_name from usage_records where task_id = %s", (task_id,)).fetchall()
    assert [row["prompt_name"] for row in rows] == ["ai_review@1"]


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ("Looks good to me!", "the answer is not a JSON object"),
        (
            '{"verdict": "lgtm", "summary": "", "findings": []}',
            "verdict: Input should be 'approve' or 'request_changes'",
        ),
        (
            '{"verdict": "approve", "summary": "", "findings": [{"file": "a.py"}]}',
            "findings.0.line: Field required",
        ),
    ],
    ids=["prose", "unknown-verdict", "finding-without-line"],
)
def test_a_malformed_answer_is_reported_clearly_and_never_blocks(world, reviewer, answer, problem):
    reviewer.script(answer)
    task_id = validate(world, review_config(enabled=True, blocking=True))

    assert wait_for_end(task_id)["status"] == "SUCCEEDED"
    review = run_row(task_id).report.review
    assert review.status == "unreadable" and problem in review.problem
    render = checked(run_row(task_id).report)
    assert "AI review unreadable, not counted" in render.text and answer not in render.text


def test_an_unreachable_provider_is_reported_and_never_blocks(world, reviewer):
    reviewer.fail_next(10, "status", status=500)
    task_id = validate(world, review_config(enabled=True, blocking=True))

    assert wait_for_end(task_id)["status"] == "SUCCEEDED"
    review = run_row(task_id).report.review
    assert review.status == "unavailable" and review.problem


def test_without_a_provider_the_review_is_skipped_and_the_report_says_so(world, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    reset_settings()
    task_id = validate(world, review_config(enabled=True, blocking=True))

    assert wait_for_end(task_id)["status"] == "SUCCEEDED"
    report = run_row(task_id).report
    assert report.review.status == "skipped"
    render = checked(report)
    assert "AI review skipped: no OpenAI-compatible provider is configured" in render.text


def test_a_review_not_enabled_asks_nobody(world, reviewer):
    task_id = validate(world, CONFIG.replace("include_repo_checks: true", "include_repo_checks: false"))

    assert wait_for_end(task_id)["status"] == "SUCCEEDED"
    assert run_row(task_id).report.review is None and reviewer.calls == []


def test_the_runner_is_never_given_the_provider_or_its_key(world, reviewer):
    """The request that crosses to the runner carries the review's settings only: no base URL,
    no key (the runner's environment has none either: tests/unit/deploy/test_template.py)."""
    reviewer.script(json.dumps({"verdict": "approve", "summary": "", "findings": []}))
    world["main"] |= {".github/codeloop.yml": review_config(enabled=True)}
    world["fake"].publish(REPO, "main", world["main"])
    pr_number, head_sha = open_pull_request(world, PASSING)
    from codeloop.services.tasks.actions import create_and_start

    create_and_start(NewTask(repository_id=world["repo"].id, title="t"), actor="test")
    message = answer_until_validation(world, pr_number, head_sha)
    from codeloop.local.handlers import load
    from tests.conftest import sqs_event

    load("status_syncer")(sqs_event(message), None)
    request = take(world["aws"]["VALIDATION_RUNNER_QUEUE_URL"])["Body"]
    assert reviewer.api_key not in request and reviewer.base_url not in request
    assert json.loads(request)["job"]["review"] == {"enabled": True, "blocking": False, "instructions": ""}
    assert reviewer.calls == []  # nothing is asked before the results are back
