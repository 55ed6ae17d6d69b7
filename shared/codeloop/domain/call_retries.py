"""Call retries: when to repeat a provider *call* that failed (a 5xx, a 429, a timeout), per
error class.

Not a task's new attempt (``/codeloop retry``, ``POST /tasks/{id}/retry``, the check run's Retry
button) and not a state machine's ASL ``Retry`` field. ``next_call_delay`` says how long to wait;
the caller re-queues the work with that delay (an SQS delay or a Step Functions wait): a Lambda
never sleeps it out. The deployment's ``RETRY_POLICIES`` setting and a repository's ``retry:``
key in ``.github/codeloop.yml`` override these policies (their names are kept as contracts).
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


class CallRetryPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    backoff: BackoffKind = BackoffKind.EXPONENTIAL
    base_seconds: float = Field(default=2.0, ge=0)
    multiplier: float = Field(default=2.0, ge=1)
    max_delay_seconds: float = Field(default=300.0, ge=0)
    max_attempts: int = Field(default=5, ge=1, description="Calls in all, the first one included.")
    max_elapsed_seconds: float = Field(default=900.0, ge=0, description="Give up past this.")
    jitter: Jitter = Jitter.FULL


NEVER_REPEAT = CallRetryPolicy(max_attempts=1)

# Error classes whose calls are never repeated, whatever a configuration says.
_NEVER_REPEATED = frozenset({ErrorClass.PLAN_LIMIT, ErrorClass.FINAL})


def _default_policies() -> dict[ErrorClass, CallRetryPolicy]:
    return {
        ErrorClass.RETRYABLE: CallRetryPolicy(),
        # The server says when; the policy only bounds how often and how long in all.
        ErrorClass.RATE_LIMITED: CallRetryPolicy(
            backoff=BackoffKind.FIXED, base_seconds=6.0, max_attempts=10, max_elapsed_seconds=1800.0
        ),
        # Retried only after reconciling (find_run found nothing), so a short fixed wait suffices.
        ErrorClass.OUTCOME_UNKNOWN: CallRetryPolicy(
            backoff=BackoffKind.FIXED, base_seconds=10.0, max_attempts=3, jitter=Jitter.NONE
        ),
        ErrorClass.PLAN_LIMIT: NEVER_REPEAT,
        ErrorClass.FINAL: NEVER_REPEAT,
    }


class CallRetryPolicies(BaseModel):
    """One policy per error class. Built from settings, then overridden per repository."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    by_error_class: dict[ErrorClass, CallRetryPolicy] = Field(default_factory=_default_policies)

    def policy_for(self, error_class: ErrorClass) -> CallRetryPolicy:
        if error_class in _NEVER_REPEATED:
            return NEVER_REPEAT
        return self.by_error_class.get(error_class, NEVER_REPEAT)

    def with_overrides(self, overrides: dict[str, dict[str, object]] | None) -> CallRetryPolicies:
        """These policies with some fields replaced, e.g. ``{"retryable": {"max_attempts": 2}}``.

        Raises ``pydantic.ValidationError`` naming the bad key or value.
        """
        if not overrides:
            return self
        merged = {cls.value: policy.model_dump() for cls, policy in self.by_error_class.items()}
        for name, fields in overrides.items():
            merged[name] = {**merged.get(name, {}), **fields}
        return CallRetryPolicies.model_validate({"by_error_class": merged})


class RandomSource(Protocol):
    def random(self) -> float: ...


def backoff_delay(policy: CallRetryPolicy, attempt: int, rng: RandomSource) -> float:
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


def next_call_delay(
    policies: CallRetryPolicies,
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
