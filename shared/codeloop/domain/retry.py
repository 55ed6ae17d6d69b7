"""Retry policy for provider calls, and the strategy a failed attempt's next prompt takes.

Two different loops live here:

* ``next_delay``: how long to wait before repeating a *call* that failed (a 5xx, a 429, a
  timeout), per error class. The caller re-queues the work with that delay (an SQS delay or a
  Step Functions wait): a Lambda never sleeps it out.
* ``choose_fix_strategy``: what the *next iteration's prompt* should ask of the agent when the
  pull request it produced failed validation.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from codeloop.domain.providers import ErrorClass


class BackoffKind(StrEnum):
    EXPONENTIAL = "exponential"  # base · multiplier^(attempt-1)
    LINEAR = "linear"  # base · attempt
    FIXED = "fixed"  # base


class Jitter(StrEnum):
    NONE = "none"
    FULL = "full"  # uniform in [0, delay]
    EQUAL = "equal"  # delay/2 + uniform in [0, delay/2]


class RetryPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    backoff: BackoffKind = BackoffKind.EXPONENTIAL
    base_seconds: float = Field(default=2.0, ge=0)
    multiplier: float = Field(default=2.0, ge=1)
    max_delay_seconds: float = Field(default=300.0, ge=0)
    max_attempts: int = Field(default=5, ge=1, description="Calls in all, the first one included.")
    max_elapsed_seconds: float = Field(default=900.0, ge=0, description="Give up past this.")
    jitter: Jitter = Jitter.FULL


NEVER = RetryPolicy(max_attempts=1)

# Error classes whose calls are never repeated, whatever a configuration says.
_NEVER_RETRIED = frozenset({ErrorClass.PLAN_LIMIT, ErrorClass.FINAL})


def _default_policies() -> dict[ErrorClass, RetryPolicy]:
    return {
        ErrorClass.RETRYABLE: RetryPolicy(),
        # The server says when; the policy only bounds how often and how long in all.
        ErrorClass.RATE_LIMITED: RetryPolicy(
            backoff=BackoffKind.FIXED, base_seconds=6.0, max_attempts=10, max_elapsed_seconds=1800.0
        ),
        # Retried only after reconciling (find_run found nothing), so a short fixed wait suffices.
        ErrorClass.OUTCOME_UNKNOWN: RetryPolicy(
            backoff=BackoffKind.FIXED, base_seconds=10.0, max_attempts=3, jitter=Jitter.NONE
        ),
        ErrorClass.PLAN_LIMIT: NEVER,
        ErrorClass.FINAL: NEVER,
    }


class RetryPolicies(BaseModel):
    """One policy per error class. Built from settings, then overridden per repository."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    by_error_class: dict[ErrorClass, RetryPolicy] = Field(default_factory=_default_policies)

    def policy_for(self, error_class: ErrorClass) -> RetryPolicy:
        if error_class in _NEVER_RETRIED:
            return NEVER
        return self.by_error_class.get(error_class, NEVER)

    def with_overrides(self, overrides: dict[str, dict[str, object]] | None) -> RetryPolicies:
        """These policies with some fields replaced, e.g. ``{"retryable": {"max_attempts": 2}}``.

        Raises ``pydantic.ValidationError`` naming the bad key or value.
        """
        if not overrides:
            return self
        merged = {cls.value: policy.model_dump() for cls, policy in self.by_error_class.items()}
        for name, fields in overrides.items():
            merged[name] = {**merged.get(name, {}), **fields}
        return RetryPolicies.model_validate({"by_error_class": merged})


class RandomSource(Protocol):
    def random(self) -> float: ...


def backoff_delay(policy: RetryPolicy, attempt: int, rng: RandomSource) -> float:
    """The wait after the ``attempt``-th failed call (1-based), capped and jittered."""
    if policy.backoff is BackoffKind.EXPONENTIAL:
        raw = policy.base_seconds * policy.multiplier ** (attempt - 1)
    elif policy.backoff is BackoffKind.LINEAR:
        raw = policy.base_seconds * attempt
    else:
        raw = policy.base_seconds
    capped = min(raw, policy.max_delay_seconds)
    if policy.jitter is Jitter.FULL:
        return capped * rng.random()
    if policy.jitter is Jitter.EQUAL:
        return capped / 2 + capped / 2 * rng.random()
    return capped


def next_delay(
    policies: RetryPolicies,
    error_class: ErrorClass,
    attempt: int,
    elapsed: float,
    rng: RandomSource,
    *,
    retry_after: float | None = None,
) -> float | None:
    """Seconds to wait before the next call, or None to give up.

    ``attempt`` counts the calls made so far (1 after the first failure); ``elapsed`` is the
    seconds since the first call. A server's ``retry_after`` is a floor: never call sooner.
    """
    policy = policies.policy_for(error_class)
    if attempt >= policy.max_attempts:
        return None
    delay = backoff_delay(policy, attempt, rng)
    if retry_after is not None:
        delay = max(delay, retry_after)
    if elapsed + delay > policy.max_elapsed_seconds:
        return None
    return delay


# -- what the next iteration's prompt asks for ---------------------------------------------------


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
