"""The Linear comment: the PR comment's facts in Linear's Markdown, no HTML, outside text tamed."""

from __future__ import annotations

from codeloop.domain.linear import LinearIssueTask
from codeloop.domain.linear_report import render_comment
from codeloop.domain.report import AttemptView
from codeloop.domain.report import render_comment as render_github_comment
from tests.unit.report.views import passed_report, states, view

ISSUE = LinearIssueTask(
    issue_id="i-1", identifier="ENG-123", url="https://linear.app/a/issue/ENG-123", team_id="t-1"
)


def test_every_state_renders_without_html_and_names_the_issue_and_repository():
    for name, state in states().items():
        body = render_comment(state, ISSUE)
        assert "<details" not in body and "<!--" not in body and "<summary" not in body, name
        assert (
            "ENG-123" in body and "[octo-org/widgets](https://github.example.com/octo-org/widgets)" in body
        ), name


def test_the_outcome_and_attempts_are_the_pr_comments():
    green = view(
        "completed",
        task={"pr_number": 9, "pr_url": "https://github.example.com/octo-org/widgets/pull/9"},
        attempts=[AttemptView(number=1, validation=passed_report(), pr_number=9)],
    )
    body = render_comment(green, ISSUE)
    assert body.startswith("### ✅ codeloop: Passed")
    assert "**Pull request:** [#9](https://github.example.com/octo-org/widgets/pull/9)" in body
    attempt_line = next(line for line in body.splitlines() if line.startswith("- **1**"))
    assert attempt_line in render_github_comment(green)


def test_a_long_error_folds_into_linears_collapsible_section():
    failed = view("failed", task={"error_log": [{"error": "Boom: " + "x\n" * 400, "step": "ValidatePR"}]})
    body = render_comment(failed, ISSUE)
    assert "+++ " in body and body.count("+++") % 2 == 0 and "<details>" not in body
