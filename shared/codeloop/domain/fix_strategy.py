"""The strategy a failed attempt's next prompt takes: what the next iteration asks of the agent
when the pull request it produced failed validation (not a repeated provider call: see
``call_retries``)."""

from __future__ import annotations

from enum import StrEnum


class FixStrategy(StrEnum):
    REGENERATE_PROMPT = "regenerate_prompt"  # same goal, the new failure fed back
    DIFFERENT_APPROACH = "different_approach"  # the last idea did not work: ask for another
    REDUCED_SCOPE = "reduced_scope"  # stuck: make the smallest change that passes


# From this fix attempt on, a failure that keeps repeating narrows the scope.
REDUCE_SCOPE_FROM_ATTEMPT = 3


def choose_fix_strategy(attempt: int, same_failure_as_before: bool) -> FixStrategy:
    """The strategy for fix attempt ``attempt`` (1 = the first fix after the initial try).

    A new failure means progress: feed it back. The same failure again means the approach is
    wrong: ask for another, and if it still repeats late in the budget, shrink the task.
    """
    if not same_failure_as_before:
        return FixStrategy.REGENERATE_PROMPT
    if attempt >= REDUCE_SCOPE_FROM_ATTEMPT:
        return FixStrategy.REDUCED_SCOPE
    return FixStrategy.DIFFERENT_APPROACH
