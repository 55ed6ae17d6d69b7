"""The check run and the PR comment for each main state: snapshots, conclusions, buttons.

Refresh the snapshots after a deliberate change: ``UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest
tests/unit/report/test_rendering.py``, then review the diff.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from codeloop.domain.report import (
    ACTIONS,
    AttemptView,
    FailureInfo,
    outcome_of,
    render_check_run,
    render_comment,
    task_marker,
)
from tests.unit.report.markdown import read
from tests.unit.report.views import (
    FAILED_TEST_ANNOTATION,
    TASK_ID,
    failed_report,
    passed_report,
    states,
    view,
)

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
STATES = states()
OWN_HTML = re.compile(
    r"^(<details><summary>|</summary>|</details>|<code>|</code>|<!-- codeloop:task:[0-9a-f-]{36} -->)"
)


def rendered(name: str) -> str:
    """The comment and every attempt's check run, as one reviewable document."""
    state = STATES[name]
    parts = [render_comment(state)]
    for record in state.attempts:
        check = render_check_run(state, record.number)
        parts.append(
            f"\n---- check run, attempt {record.number}: {check.status} / {check.conclusion}\n"
            f"title: {check.title}\n"
            f"actions: {', '.join(a['identifier'] for a in check.actions) or '-'}\n"
            f"annotations: {len(check.annotations)}\n\n{check.summary}\n"
            + (f"\n---- text\n{check.text}\n" if check.text else "")
        )
    return "".join(parts)


@pytest.mark.parametrize("name", sorted(STATES))
def test_rendering_matches_snapshot(name: str) -> None:
    text = rendered(name)
    snapshot = SNAPSHOTS / f"{name}.md"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        snapshot.write_text(text, encoding="utf-8")
    assert snapshot.exists(), f"no snapshot {snapshot.name}: run with UPDATE_SNAPSHOTS=1 to create it"
    assert text == snapshot.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(STATES))
def test_comment_starts_with_its_marker_and_holds_only_our_html(name: str) -> None:
    body = render_comment(STATES[name])
    assert body.startswith(task_marker(TASK_ID) + "\n")
    assert body.count("<!--") == 1
    assert all(OWN_HTML.match(fragment) for fragment in read(body).html_fragments)


# (state, attempt) -> (status, conclusion, buttons)
EXPECTED_CHECK_RUNS = {
    ("queued", 1): ("queued", None, ["cancel"]),
    ("running", 1): ("in_progress", None, ["cancel"]),
    ("waiting_provider", 1): ("in_progress", None, ["cancel"]),
    ("waiting_for_repository_checks", 1): ("in_progress", None, ["cancel"]),
    ("passed", 1): ("completed", "failure", []),
    ("passed", 2): ("completed", "success", []),
    ("failed_attempt_then_fixing", 1): ("completed", "failure", []),
    ("failed_attempt_then_fixing", 2): ("in_progress", None, ["cancel"]),
    ("budget_exhausted", 1): ("completed", "failure", []),
    ("budget_exhausted", 2): ("completed", "failure", ["retry", "fix"]),
    ("repeated_failure", 2): ("completed", "failure", ["retry", "fix"]),
    ("not_configured", 1): ("completed", "neutral", ["retry"]),
    ("step_failed", 1): ("completed", "failure", ["retry"]),
    ("timed_out", 1): ("completed", "timed_out", ["retry"]),
    ("cancelled", 1): ("completed", "cancelled", ["retry"]),
}


@pytest.mark.parametrize(("name", "attempt"), sorted(EXPECTED_CHECK_RUNS))
def test_check_run_status_conclusion_and_buttons(name: str, attempt: int) -> None:
    check = render_check_run(STATES[name], attempt)
    assert (check.status, check.conclusion, [a["identifier"] for a in check.actions]) == EXPECTED_CHECK_RUNS[
        (name, attempt)
    ]


def test_buttons_fit_githubs_limits() -> None:
    for action in ACTIONS.values():
        assert len(action["identifier"]) <= 20 and len(action["label"]) <= 20
        assert len(action["description"]) <= 40


def test_a_later_attempt_not_started_yet_is_queued() -> None:
    check = render_check_run(STATES["running"], 2)
    assert (check.status, check.conclusion, check.actions) == ("queued", None, [])


def test_failed_attempt_carries_the_validation_annotations_in_githubs_shape() -> None:
    check = render_check_run(STATES["budget_exhausted"], 2)
    assert check.annotations == [FAILED_TEST_ANNOTATION]


@pytest.mark.parametrize(
    ("name", "kind", "words"),
    [
        ("queued", "queued", "Queued"),
        ("running", "running", "Running the tests"),
        ("waiting_provider", "waiting", "Waiting for a code-generation agent"),
        ("passed", "passed", "the tests pass on #34"),
        ("budget_exhausted", "budget_exhausted", "iteration budget is spent"),
        ("repeated_failure", "repeated_failure", "Attempt 2 failed the same way as attempt 1"),
        ("not_configured", "not_run", "no test commands are configured"),
        ("step_failed", "step_failed", "Failed at Agent writes the code (`PlanLimit`)"),
        ("timed_out", "timed_out", "Run the tests ran out of time"),
        ("cancelled", "cancelled", "Cancelled by @\u200dbob"),
    ],
)
def test_the_outcome_says_plainly_what_happened(name: str, kind: str, words: str) -> None:
    outcome = outcome_of(STATES[name])
    assert outcome.kind == kind
    assert words in outcome.headline
    assert (
        words
        in render_comment(STATES[name]).split(
            "**Outcome:**" if kind not in ("queued", "running", "waiting") else "**Now:**"
        )[-1]
    )


def test_not_configured_shows_the_hint_to_add_test_commands() -> None:
    body = render_comment(STATES["not_configured"])
    outcome = body.split("**Outcome:**")[-1]
    assert "Add test commands to .github/codeloop.yml" in outcome
    assert 'test: ["python -m pytest -q --junitxml=report.xml"]' in outcome


def test_the_same_failure_twice_is_named_without_the_workflow_saying_so() -> None:
    """Two failed attempts with one failure signature read as 'the same failure', whatever the log says."""
    same = view(
        "failed",
        attempt=2,
        attempts=[
            AttemptView(number=1, validation=failed_report("sig-x")),
            AttemptView(number=2, validation=failed_report("sig-x")),
        ],
    )
    progressing = same.model_copy(
        update={
            "attempts": [
                AttemptView(number=1, validation=failed_report("sig-x")),
                AttemptView(number=2, validation=failed_report("sig-y")),
            ]
        }
    )
    assert outcome_of(same).kind == "repeated_failure"
    assert outcome_of(progressing).kind == "step_failed"


def test_the_failure_is_read_from_the_error_log_when_the_view_has_none() -> None:
    logged = view(
        "failed",
        task={
            "error_log": [{"step": "ValidatePR", "error": "BudgetExhausted: still failing after 3 attempts"}]
        },
    )
    given = view("failed", failure=FailureInfo(error="BudgetExhausted", cause="spent"))
    assert outcome_of(logged).kind == outcome_of(given).kind == "budget_exhausted"


def test_links_are_built_from_the_repository_address_given() -> None:
    body = render_comment(STATES["running"])
    assert "(https://github.example.com/octo-org/widgets/pull/34)" in body
    assert "(https://github.example.com/octo-org/widgets/runs/777)" in body
    assert "github.com/" not in body.replace("github.example.com/", "")


def test_flaky_tests_are_named_in_the_check_run_and_counted_in_the_comment() -> None:
    flaky = passed_report().model_copy(
        update={
            "summary": "Passed: 1 test command succeeded; 1 flaky test passed on a rerun",
            "flaky_tests": ["tests.test_cli::test_json"],
        }
    )
    flaky_view = view("completed", attempts=[AttemptView(number=1, validation=flaky, pr_number=34)])
    check = render_check_run(flaky_view, 1)
    assert check.conclusion == "success"
    assert "### Flaky tests (failed, then passed on a rerun)\n- `tests.test_cli::test_json`" in (
        check.text or ""
    )
    assert "✅ Passed: 1 test command succeeded; 1 flaky test passed on a rerun" in render_comment(flaky_view)
