"""What a check run concludes when codeloop ran nothing, and how an auto-merge turned off after a
push reads: GitHub counts ``neutral`` as passing a required check, so a pull request codeloop
refused must not conclude it."""

from __future__ import annotations

import pytest

from codeloop.domain.auto_merge import AutoMergeOutcome, must_turn_off_after_push, turned_off_after_push
from codeloop.domain.report import (
    AttemptView,
    FailureInfo,
    not_run_conclusion,
    render_check_run,
    render_comment,
)
from codeloop.domain.validation import not_run_report
from tests.unit.report.views import FIRST_STEPS, REPO_URL, agent, view

VALIDATED = "a1b2c3d4e5f6a7b8c9d0"
PUSHED = "b2c3d4e5f6a7b8c9d0e1"

# A validation that ran nothing, by why, and what its check run concludes.
NOT_RUN_CONCLUSIONS = {
    "protected_paths": "action_required",  # protected paths changed, or a file list cut short
    "fork": "action_required",  # a fork not opted in: none of its author's code was validated
    None: "action_required",  # a reason codeloop does not know is a refusal too
    "not_configured": "neutral",  # the repository's own setup, the same for every pull request
    "config_invalid": "neutral",
}


def test_only_the_repositorys_own_configuration_concludes_neutral_when_nothing_ran():
    assert {reason: not_run_conclusion(reason) for reason in NOT_RUN_CONCLUSIONS} == NOT_RUN_CONCLUSIONS


def refused_attempt(reason: str) -> AttemptView:
    """Attempt 1, whose pull request (#34) codeloop refused to validate."""
    return AttemptView(
        number=1,
        agent_run=agent(1),
        validation=not_run_report(reason, VALIDATED),
        check_run_id=777,
        pr_number=34,
    )


def refused(reason: str):
    """A task that ended because codeloop refused to validate its pull request."""
    return view(
        "failed",
        steps=FIRST_STEPS,
        failure=FailureInfo(error="ValidationNotRun", step="ValidatePR"),
        attempts=[refused_attempt(reason)],
    )


@pytest.mark.parametrize("reason", ["protected_paths", "fork"])
def test_a_refused_pull_requests_check_run_requires_action_and_links_its_changes(reason):
    check = render_check_run(refused(reason), 1)
    assert (check.status, check.conclusion) == ("completed", "action_required")
    assert check.details_url == f"{REPO_URL}/pull/34/files"


def test_an_earlier_refused_attempt_keeps_requiring_action():
    state = view(
        "generating", attempt=2, attempts=[refused_attempt("protected_paths"), AttemptView(number=2)]
    )
    assert render_check_run(state, 1).conclusion == "action_required"


ENABLED = AutoMergeOutcome(action="auto_merge_enabled", method="squash", pr_number=34, head_sha=VALIDATED)


def test_auto_merge_goes_off_only_when_the_head_moves_past_the_validated_commit():
    assert must_turn_off_after_push(ENABLED, PUSHED)
    assert not must_turn_off_after_push(ENABLED, VALIDATED)
    turned_off = turned_off_after_push(ENABLED, PUSHED)
    assert not must_turn_off_after_push(turned_off, PUSHED)  # a redelivered push does nothing more


MOVED = "its head moved to b2c3d4e5f6a7 after codeloop validated a1b2c3d4e5f6"


@pytest.mark.parametrize(
    ("github_refusal", "words"),
    [
        (None, ["Auto-merge turned off for", MOVED]),
        ("Pull request is closed", ["Auto-merge may still be on for", MOVED, "Pull request is closed"]),
    ],
)
def test_auto_merge_turned_off_after_a_push_is_said_in_the_comment_and_the_check_run(github_refusal, words):
    state = view(
        "completed", steps=FIRST_STEPS, auto_merge=turned_off_after_push(ENABLED, PUSHED, github_refusal)
    )
    comment, summary = render_comment(state), render_check_run(state, 1).summary
    assert all(phrase in comment and phrase in summary for phrase in words)
