"""validation.review through the real ValidatePR step: the status syncer asks the OpenAI-compatible
fake once the runner's report is back (the runner never sees the provider), and the answer
becomes the report's review: annotations, a blocking failure, or a clear note."""

from __future__ import annotations

import json

import pytest

from codeloop.db import store
from codeloop.db.pool import transaction
from codeloop.domain.lifecycle import TaskStatus
from codeloop.domain.models import NewTask
from codeloop.domain.report import AttemptView, CheckRunRender, render_check_run
from codeloop.domain.validation import ValidationReport
from codeloop.domain.validation_request import ValidationResult
from codeloop.local.handlers import load
from codeloop.services.validation import step as validation_step
from codeloop.settings import reset_settings
from tests.conftest import sqs_event
from tests.fakes.openai_api import FakeOpenAIApi
from tests.integration.validation.test_validation_step import (
    CONFIG,
    PASSING,
    REPO,
    answer_until_validation,
    deliver_report,
    open_pull_request,
    run_row,
    run_until_report,
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


def sync_status(world, until: str) -> None:
    """The status syncer takes the status queue's notes (the ledger's, the workflow's end) up to
    the ``until`` event, publishing the check run on the GitHub fake as on AWS."""
    syncer = load("status_syncer")
    while True:
        message = take(world["aws"]["STATUS_QUEUE_URL"])
        assert syncer(sqs_event(message), None) == {"batchItemFailures": []}
        if json.loads(message["Body"]).get("event") == until:
            return


def github_check_run(world, task_id: str, attempt: int) -> dict:
    """The attempt's ``codeloop`` check run as GitHub has it."""
    [run] = [r for r in world["repo"].check_runs.values() if r.get("external_id") == f"{task_id}:{attempt}"]
    return run


def review_config(include_repo_checks: bool = False, **review) -> str:
    fields = ", ".join(f"{key}: {json.dumps(value)}" for key, value in review.items())
    checks = f"include_repo_checks: {json.dumps(include_repo_checks)}"
    return CONFIG.replace("include_repo_checks: true", checks) + f"  review: {{{fields}}}\n"


@pytest.fixture
def reviewer(monkeypatch):
    with FakeOpenAIApi() as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", fake.api_key)
        monkeypatch.setenv("OPENAI_MODEL", "reviewer-model")
        reset_settings()
        yield fake


def until_report(world, config: str, *, criteria: list[str] | None = None) -> tuple[str, ValidationResult]:
    """One task's ValidatePR through the state machine, with ``config`` on the default branch, up
    to the runner's report (not delivered yet)."""
    world["main"] |= {".github/codeloop.yml": config}
    world["fake"].publish(REPO, "main", world["main"])
    pr_number, head_sha = open_pull_request(world, PASSING + "\n\ndef test_more():\n    assert True\n")
    from codeloop.services.tasks.actions import create_and_start

    task = create_and_start(
        NewTask(repository_id=world["repo"].id, title="Make add work", acceptance_criteria=criteria or []),
        actor="test",
    )
    message = answer_until_validation(world, pr_number, head_sha)
    with transaction() as conn:  # what the prompt and agent workers record on their way
        store.transition_task(conn, task.id, TaskStatus.PROMPTING)
        store.transition_task(conn, task.id, TaskStatus.GENERATING)
        store.update_task(conn, task.id, pr_number=pr_number, head_sha=head_sha)
    return str(task.id), run_until_report(world, message)


def validate(world, config: str, *, criteria: list[str] | None = None) -> str:
    """One task's ValidatePR through the state machine, its report delivered once."""
    task_id, report = until_report(world, config, criteria=criteria)
    assert deliver_report(report) == {"batchItemFailures": []}
    return task_id


def usage_prompts(task_id: str) -> list[str]:
    """The prompt names of the task's usage records: one per model call charged."""
    with transaction() as conn:
        rows = conn.execute("select prompt_name from usage_records where task_id = %s", (task_id,)).fetchall()
    return [row["prompt_name"] for row in rows]


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
    assert usage_prompts(task_id) == ["ai_review@1"]  # the review's model call is in the cost ledger


def test_a_redelivered_report_reuses_the_review_and_asks_the_model_once(world, reviewer):
    """The status queue delivers at least once: the same runner report delivered again (here while
    the step waits for the repository's CI, so both deliveries are processed in full) is answered
    from the review kept for that validation run and head commit."""
    answer = json.dumps({"verdict": "approve", "summary": "Fine.", "findings": [FINDING]})
    reviewer.script(answer)
    reviewer.script(answer)  # a second call would be answered too: only the count tells
    config = review_config(include_repo_checks=True, enabled=True, blocking=True)
    task_id, report = until_report(world, config)
    suite = world["repo"].add_check_suite(
        report.job.head_sha, "github-actions", status="in_progress", conclusion=None
    )

    assert deliver_report(report) == {"batchItemFailures": []}
    sync_status(world, "validation_waiting_checks")
    first = (run_row(task_id).report, shown(github_check_run(world, task_id, 1)))
    assert deliver_report(report) == {"batchItemFailures": []}
    sync_status(world, "validation_waiting_checks")
    again = (run_row(task_id).report, shown(github_check_run(world, task_id, 1)))

    assert len(reviewer.calls) == 1 and usage_prompts(task_id) == ["ai_review@1"]
    assert again == first and run_row(task_id).status == "waiting_checks"
    assert first[0].review.verdict == "approve" and "### AI review" in first[1]["output"]["text"]
    suite.update(status="completed", conclusion="success")
    assert validation_step.on_check_suite_completed(REPO, report.job.head_sha) is True
    sync_status(world, "workflow_succeeded")
    assert github_check_run(world, task_id, 1)["conclusion"] == "success" and len(reviewer.calls) == 1


def shown(check_run: dict) -> dict:
    """What a check run shows: its state, its output and its buttons."""
    return {key: check_run.get(key) for key in ("status", "conclusion", "output", "actions")}


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
def test_a_malformed_answer_is_reported_clearly(world, reviewer, answer, problem):
    reviewer.script(answer)
    task_id = validate(world, review_config(enabled=True))

    assert wait_for_end(task_id)["status"] == "SUCCEEDED"
    review = run_row(task_id).report.review
    assert review.status == "unreadable" and problem in review.problem
    sync_status(world, "workflow_succeeded")
    check = github_check_run(world, task_id, 1)
    assert check["conclusion"] == "success"  # not blocking: informational
    assert "AI review unreadable, not counted" in check["output"]["text"] and answer not in json.dumps(check)


def test_without_blocking_an_unreachable_provider_is_reported_and_does_not_count(world, reviewer):
    reviewer.fail_next(1, "status", status=500)
    task_id = validate(world, review_config(enabled=True))

    assert wait_for_end(task_id)["status"] == "SUCCEEDED"
    review = run_row(task_id).report.review
    assert review.status == "unavailable" and review.problem
    sync_status(world, "workflow_succeeded")
    assert github_check_run(world, task_id, 1)["conclusion"] == "success"
    assert usage_prompts(task_id) == []  # no answer, nothing charged


@pytest.mark.parametrize(
    ("break_reviewer", "status", "problem"),
    [
        (lambda fake: fake.script("Looks good to me!"), "unreadable", "the answer is not a JSON object"),
        (lambda fake: fake.fail_next(1, "status", status=503), "unavailable", "503"),
    ],
    ids=["unreadable", "unavailable"],
)
def test_with_blocking_a_review_that_could_not_be_obtained_is_not_a_pass(
    world, reviewer, break_reviewer, status, problem
):
    """The tests pass, but the review the repository requires is missing: the attempt ends
    visibly not passed (action required, with the reason and a Re-run button), without sending
    the agent a fix prompt for code that has nothing wrong."""
    break_reviewer(reviewer)
    task_id = validate(world, review_config(enabled=True, blocking=True))

    ended = wait_for_end(task_id)
    assert (ended["status"], ended["error"]) == ("FAILED", "ReviewUnavailable")
    row = run_row(task_id)
    assert (row.status, row.report.review.status, row.failure_signature) == ("error", status, None)
    assert row.summary.startswith(f"AI review {status}, blocking: not passed: ") and problem in row.summary
    assert row.report.commands and all(c.succeeded for c in row.report.commands)  # the tests passed
    assert validation_output(task_id) == []  # the step failed: no verdict sent to the loop
    sync_status(world, "workflow_failed")
    check = github_check_run(world, task_id, 1)
    assert (check["status"], check["conclusion"]) == ("completed", "action_required")
    assert [a["identifier"] for a in check["actions"]] == ["validate"]  # Re-run: validate again
    assert check["output"]["title"].startswith(f"AI review {status}, blocking: not passed")
    assert problem in check["output"]["summary"] and "press **Re-run**" in check["output"]["summary"]
    assert "Looks good to me!" not in json.dumps(check)


def test_re_run_reviews_the_pull_request_again_and_passes_it(world, reviewer):
    """What the Re-run button does (the `validate` command): a new attempt that validates the
    same pull request and asks the review again, with no agent run."""
    reviewer.fail_next(1, "status", status=503)
    task_id = validate(world, review_config(enabled=True, blocking=True))
    sync_status(world, "workflow_failed")
    reviewer.script(json.dumps({"verdict": "approve", "summary": "Good.", "findings": []}))
    from codeloop.services.tasks.actions import revalidate

    task = revalidate(task_id, actor="maintainer", head_sha=run_row(task_id).head_sha)
    run_validation_step(world, take(world["aws"]["VALIDATION_QUEUE_URL"]))

    assert task.attempt == 2 and wait_for_end(task_id, 2)["status"] == "SUCCEEDED"
    assert run_row(task_id, 2).report.review.verdict == "approve"
    sync_status(world, "workflow_succeeded")
    assert github_check_run(world, task_id, 2)["conclusion"] == "success"
    assert usage_prompts(task_id) == ["ai_review@1"]  # the one answer; no agent call either


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
    load("status_syncer")(sqs_event(message), None)
    request = take(world["aws"]["VALIDATION_RUNNER_QUEUE_URL"])["Body"]
    assert reviewer.api_key not in request and reviewer.base_url not in request
    assert json.loads(request)["job"]["review"] == {"enabled": True, "blocking": False, "instructions": ""}
    assert reviewer.calls == []  # nothing is asked before the results are back
