"""A failed task says, in the user's words, what went wrong and what to do next."""

from __future__ import annotations

import pytest

from codeloop.domain.failures import FAILURE_EXPLANATIONS, UNKNOWN_FAILURE, explain_failure
from codeloop.domain.report import (
    CHECK_RUN_TITLE_CHARS,
    AttemptView,
    TaskView,
    outcome_of,
    render_check_run,
    render_comment,
)
from tests.unit.report.views import view

MARKDOWN = set("`*_[]<>|~#")


def failed_with(error_log_entry: str, step: str = "workflow") -> TaskView:
    """A task the status syncer failed from the workflow's last word, as it stores it."""
    return view(
        "failed",
        task={"error_log": [{"error": error_log_entry, "step": step}]},
        attempts=[AttemptView(number=1, check_run_id=777)],
    )


def test_a_codegen_402_reads_as_the_plan_being_out_of_credits():
    failed = failed_with("PlanLimitReached: the Codegen API answered 402: the plan's run limit is reached")

    comment = render_comment(failed)
    check = render_check_run(failed, 1)

    assert "### ❌ codeloop: The Codegen plan is out of agent credits (402)\n" in comment
    outcome = comment.split("**Outcome:**")[-1]
    assert "Add credits or raise the plan's run limit" in outcome
    assert "`/codeloop retry`" in outcome
    assert "the plan's run limit is reached" in outcome  # the provider's own words, quoted
    assert "Failed at" not in comment and "`PlanLimitReached`" not in comment
    assert (check.conclusion, check.title) == ("failure", "The Codegen plan is out of agent credits (402)")


@pytest.mark.parametrize("error", sorted(FAILURE_EXPLANATIONS))
def test_every_known_error_has_its_own_headline_and_next_step(error: str):
    outcome = outcome_of(failed_with(f"{error}: what the step reported", step="DispatchCodegen"))
    explanation = explain_failure(error)

    assert explanation is not UNKNOWN_FAILURE
    assert error not in outcome.headline and "Failed at" not in outcome.headline
    assert outcome.detail.startswith(explanation.next_step)
    assert ("what the step reported" in outcome.detail) is explanation.quote_cause


@pytest.mark.parametrize("error", sorted(FAILURE_EXPLANATIONS))
def test_every_headline_is_plain_text_that_fits_a_check_run_title(error: str):
    failed = failed_with(f"{error}: cause", step="ValidatePR")
    title = render_check_run(failed, 1).title

    assert not MARKDOWN & set(explain_failure(error).headline)
    assert title == outcome_of(failed).headline
    assert len(title) <= CHECK_RUN_TITLE_CHARS


@pytest.mark.parametrize(
    ("error", "headline", "conclusion"),
    [
        ("States.Timeout", "Run the tests ran out of time", "timed_out"),
        ("ProviderUnavailable", "The code-generation agent is down", "failure"),
        ("NoProviderAvailable", "No code-generation agent is available", "failure"),
        ("RateLimited", "rate-limiting codeloop (429)", "failure"),
        ("Retryable", "could not check out the pull request's code", "failure"),
        (
            "BudgetExhausted",
            "The tests still fail after 1 attempt, and the iteration budget is spent",
            "failure",
        ),
        ("Cancelled", "The task was cancelled", "failure"),
        ("ReviewUnavailable", "the blocking AI review could not be obtained", "action_required"),
    ],
)
def test_each_class_of_failure_names_itself(error: str, headline: str, conclusion: str):
    failed = failed_with(f"{error}: cause", step="ValidatePR")

    assert headline in outcome_of(failed).headline
    assert render_check_run(failed, 1).conclusion == conclusion


def test_a_missing_blocking_review_asks_for_a_re_run_not_for_a_new_agent_run():
    """The code passed; only its blocking review is missing: the one button validates (and
    reviews) the pull request again, and the reason is shown."""
    failed = failed_with("ReviewUnavailable: AI review unavailable, blocking: not passed: openai: 503")
    check = render_check_run(failed, 1)

    assert (check.conclusion, [a["identifier"] for a in check.actions]) == ("action_required", ["validate"])
    assert "press **Re-run**" in check.summary and "openai: 503" in check.summary
    assert render_check_run(failed_with("Retryable: checkout"), 1).actions[0]["identifier"] == "retry"


def test_an_unknown_error_names_the_step_and_the_code_and_says_what_to_do():
    failed = failed_with("SomethingNew: the step broke in a new way", step="DispatchCodegen")
    outcome = outcome_of(failed)

    assert outcome.headline == "Failed at Agent writes the code (`SomethingNew`)"
    assert outcome.detail.startswith(UNKNOWN_FAILURE.next_step)
    assert "report the error below to the App's maintainers" in outcome.detail
    assert render_check_run(failed, 1).title == "Failed at Agent writes the code"


def test_a_failure_without_an_error_code_still_gets_a_useful_line():
    failed = failed_with("the workflow ended as MISSING: Step Functions has no record of this execution")
    outcome = outcome_of(failed)

    assert outcome.headline == "Failed at `workflow`"
    assert "`/codeloop retry`" in outcome.detail and "no record of this execution" in outcome.detail


@pytest.mark.parametrize(
    ("cause", "raise_words"),
    [
        ("the task's budget.max_usd: spent $5.10 of $5.00", "raise `budget.max_usd`"),
        ("the task's budget.max_agent_minutes: spent 61.0 min of 60 min", "`budget.max_agent_minutes`"),
        ("the installation's daily cap: spent $50.00 of $50.00", "INSTALLATION_MAX_USD_PER_DAY"),
        ("the installation's monthly cap: spent $500.00 of $500.00", "INSTALLATION_MAX_USD_PER_MONTH"),
        ("the installation's daily cap: spent $50.00 of $50.00", "`codeloop budget set <installation>"),
    ],
)
def test_a_budget_stop_says_which_limit_what_was_spent_and_how_to_raise_it(cause: str, raise_words: str):
    error = "TaskBudgetExceeded" if "task's" in cause else "InstallationBudgetExceeded"
    failed = failed_with(f"{error}: {cause}", step="DispatchCodegen")

    comment = render_comment(failed)
    check = render_check_run(failed, 1)

    outcome = comment.split("**Outcome:**")[-1]
    assert "made no further agent call" in outcome
    assert cause.split(": ", 1)[1] in outcome  # what was spent, of what
    assert raise_words in outcome
    assert check.conclusion == "failure" and "made no further agent call" in check.title
    assert raise_words in check.summary


def test_the_comment_and_the_check_run_show_the_cost_so_far():
    from decimal import Decimal

    from codeloop.domain.costs import CostTotals, TaskCost

    cost = TaskCost(total=CostTotals(calls=2, usd=Decimal("0.0420"), input_tokens=3000, output_tokens=200))
    failed = failed_with("AgentRunFailed: boom").model_copy(update={"cost": cost})

    line = "**Cost so far:** $0.0420 (3,000 tokens in, 200 out)"
    assert line in render_comment(failed)
    assert line in render_check_run(failed, 1).summary
    assert "Cost so far" not in render_comment(failed_with("AgentRunFailed: boom"))
