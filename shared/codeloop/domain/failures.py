"""Why a task failed, in the user's words: one table from a failure's error code to a headline and
what to do next.

The error codes are the ``Error`` names the workflow's steps fail with (``StepFailed``, the ASL's
``States.*``, the syncer's ``RepeatedFailure`` and ``BudgetExhausted``). A headline is plain text
(it is also a check run's title) and may name ``{step}`` (the step's name), ``{attempts}``
("3 attempts"), ``{attempt}`` and ``{previous}``; the next step is trusted Markdown.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

RETRY = "comment `/codeloop retry`"


class FailureExplanation(BaseModel):
    model_config = ConfigDict(frozen=True)

    headline: str
    next_step: str
    quote_cause: bool = True  # False where codeloop itself concluded, and the cause only repeats the headline


FAILURE_EXPLANATIONS: dict[str, FailureExplanation] = {
    "PlanLimitReached": FailureExplanation(
        headline="The Codegen plan is out of agent credits (402)",
        next_step=f"Add credits or raise the plan's run limit in Codegen's billing settings, then {RETRY}.",
    ),
    "RateLimited": FailureExplanation(
        headline="The code-generation agent is rate-limiting codeloop (429)",
        next_step=f"codeloop repeated the call as long as its call retry policy allows; in a few minutes, {RETRY}.",
    ),
    "ProviderUnavailable": FailureExplanation(
        headline="The code-generation agent is down: it kept failing until codeloop gave up",
        next_step=f"Check the provider's status page; once it answers again, {RETRY}.",
    ),
    "NoProviderAvailable": FailureExplanation(
        headline="No code-generation agent is available (each one is down or not configured)",
        next_step="A provider that keeps failing is paused for a while (its circuit breaker is open); "
        f"check the providers' status and the `PROVIDERS` setting, then {RETRY}.",
    ),
    "ProviderError": FailureExplanation(
        headline="The code-generation agent refused the request",
        next_step="The provider's answer is below; fix what it names (often its API key or the "
        f"repository's connection to the provider), then {RETRY}.",
    ),
    "AgentRunFailed": FailureExplanation(
        headline="The agent's run failed before it opened a pull request",
        next_step=f"The agent's own log (linked above) says why; to start a new run, {RETRY}.",
    ),
    "Retryable": FailureExplanation(
        headline="codeloop could not check out the pull request's code",
        next_step=f"Check that the App can still read the repository and that the branch exists, then {RETRY}.",
    ),
    "BudgetExhausted": FailureExplanation(
        headline="The tests still fail after {attempts}, and the iteration budget is spent",
        next_step="Fix the pull request by hand from the failing tests, or raise `iterations` in "
        "`.github/codeloop.yml` and comment `/codeloop fix`.",
        quote_cause=False,
    ),
    "TaskBudgetExceeded": FailureExplanation(
        headline="The task reached its budget, so codeloop made no further agent call",
        next_step="Below: which limit, and what was spent. To go on, raise `budget.max_usd` or "
        "`budget.max_agent_minutes` in `.github/codeloop.yml` on the default branch, then "
        "comment `/codeloop retry`.",
    ),
    "InstallationBudgetExceeded": FailureExplanation(
        headline="This installation reached its spending cap, so codeloop made no further agent call",
        next_step="Below: which cap, and what was spent. An operator can raise it (`codeloop budget set "
        "<installation> --max-usd-per-day|--max-usd-per-month <usd>`, a key made with `--may-raise-caps`, or "
        "the settings `INSTALLATION_MAX_USD_PER_DAY` and `INSTALLATION_MAX_USD_PER_MONTH`); or wait "
        f"for the next UTC day or month. Then {RETRY}.",
    ),
    "RepeatedFailure": FailureExplanation(
        headline="Attempt {attempt} failed the same way as attempt {previous}, so codeloop stopped "
        "(another attempt would not help)",
        next_step="The same tests fail the same way: comment `/codeloop fix <what to change>` with a hint "
        "for the agent, or fix the pull request by hand.",
        quote_cause=False,
    ),
    "ConfigInvalid": FailureExplanation(
        headline="The repository's .github/codeloop.yml is not valid",
        next_step=f"Fix the file on the default branch as the error below says, then {RETRY}.",
    ),
    "RepositoryNotInstalled": FailureExplanation(
        headline="codeloop is not installed on this repository any more",
        next_step=f"Install the GitHub App on the repository again, then {RETRY}.",
    ),
    "ValidationNotRun": FailureExplanation(
        headline="codeloop could not validate the pull request",
        next_step=f"The reason, and how to fix it, are below; once it is fixed, {RETRY}.",
    ),
    "ReviewUnavailable": FailureExplanation(
        headline="The tests passed, but the blocking AI review could not be obtained",
        next_step="`validation.review.blocking` is on, so the pull request is not passed without its "
        "review; why it could not be obtained is below. Once the review's provider answers again, "
        "press **Re-run** on the check run (or comment `/codeloop validate`): the pull request is "
        "validated again and reviewed, with no new agent run.",
    ),
    "States.Timeout": FailureExplanation(
        headline="{step} ran out of time",
        next_step=f"Each step has a time limit in the workflow. To try again, {RETRY}; if it runs out again, "
        "look for a command that hangs or an agent that is stuck.",
    ),
    "States.HeartbeatTimeout": FailureExplanation(
        headline="{step} ran out of time (it stopped reporting progress)",
        next_step=f"The worker doing the step stopped answering; to try again, {RETRY}.",
    ),
    "Cancelled": FailureExplanation(
        headline="The task was cancelled",
        next_step=f"To start it again, {RETRY}.",
    ),
}

UNKNOWN_FAILURE = FailureExplanation(
    headline="Failed at {step}",
    next_step=f"To run the task again, {RETRY}. If it fails the same way, report the error below to the "
    "App's maintainers, with the task's id.",
)


def explain_failure(error: str | None) -> FailureExplanation:
    """The table's entry for an error code; an unknown or missing code gets a generic one."""
    return FAILURE_EXPLANATIONS.get(error or "", UNKNOWN_FAILURE)
