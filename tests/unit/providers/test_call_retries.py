import random

import pytest
from pydantic import ValidationError

from codeloop.domain.call_retries import (
    BackoffKind,
    CallRetryPolicies,
    CallRetryPolicy,
    Jitter,
    next_call_delay,
)
from codeloop.domain.providers import ErrorClass


class FixedRandom:
    def __init__(self, value: float):
        self.value = value

    def random(self) -> float:
        return self.value


NO_JITTER = FixedRandom(0.0)


def only(error_class: ErrorClass, **fields) -> CallRetryPolicies:
    return CallRetryPolicies(by_error_class={error_class: CallRetryPolicy(**fields)})


def delays(
    policies: CallRetryPolicies, error_class: ErrorClass, rng=NO_JITTER, **kwargs
) -> list[float | None]:
    """The waits a caller would take after each failed call, until the policy gives up."""
    waits: list[float | None] = []
    for attempt in range(1, 20):
        wait = next_call_delay(policies, error_class, attempt, sum(w for w in waits if w), rng, **kwargs)
        waits.append(wait)
        if wait is None:
            return waits
    return waits


@pytest.mark.parametrize(
    ("backoff", "expected"),
    [
        (BackoffKind.EXPONENTIAL, [1.0, 3.0, 9.0, 20.0, 20.0, None]),
        (BackoffKind.LINEAR, [1.0, 2.0, 3.0, 4.0, 5.0, None]),
        (BackoffKind.FIXED, [1.0, 1.0, 1.0, 1.0, 1.0, None]),
    ],
)
def test_backoff_kinds_without_jitter(backoff, expected):
    policies = only(
        ErrorClass.RETRYABLE,
        backoff=backoff,
        base_seconds=1.0,
        multiplier=3.0,
        max_delay_seconds=20.0,
        max_attempts=6,
        max_elapsed_seconds=1000.0,
        jitter=Jitter.NONE,
    )
    assert delays(policies, ErrorClass.RETRYABLE) == expected


def test_full_and_equal_jitter_scale_the_capped_delay():
    base = {"backoff": BackoffKind.EXPONENTIAL, "base_seconds": 4.0, "max_attempts": 5}
    full = only(ErrorClass.RETRYABLE, **base, jitter=Jitter.FULL)
    equal = only(ErrorClass.RETRYABLE, **base, jitter=Jitter.EQUAL)
    rng = FixedRandom(0.25)
    assert next_call_delay(full, ErrorClass.RETRYABLE, 2, 0.0, rng) == pytest.approx(8.0 * 0.25)
    assert next_call_delay(equal, ErrorClass.RETRYABLE, 2, 0.0, rng) == pytest.approx(4.0 + 4.0 * 0.25)


def test_full_jitter_stays_between_zero_and_the_cap():
    policies = only(ErrorClass.RETRYABLE, base_seconds=2.0, max_delay_seconds=10.0, max_attempts=50)
    rng = random.Random(7)
    waits = [next_call_delay(policies, ErrorClass.RETRYABLE, attempt, 0.0, rng) for attempt in range(1, 40)]
    assert all(0.0 <= wait <= min(2.0 * 2 ** (n - 1), 10.0) for n, wait in enumerate(waits, start=1))
    assert len(set(waits)) > 30  # jittered, not constant


def test_gives_up_when_the_next_wait_would_pass_the_elapsed_budget():
    policies = only(
        ErrorClass.RETRYABLE,
        backoff=BackoffKind.FIXED,
        base_seconds=10.0,
        max_attempts=100,
        max_elapsed_seconds=35.0,
    )
    policies = policies.with_overrides({"retryable": {"jitter": "none"}})
    assert delays(policies, ErrorClass.RETRYABLE) == [10.0, 10.0, 10.0, None]


def test_retry_after_is_a_floor_on_the_wait():
    policies = CallRetryPolicies()
    assert next_call_delay(policies, ErrorClass.RATE_LIMITED, 1, 0.0, NO_JITTER, retry_after=42.0) == 42.0
    assert (
        next_call_delay(policies, ErrorClass.RATE_LIMITED, 1, 0.0, FixedRandom(1.0), retry_after=1.0) == 6.0
    )


def test_rate_limit_wait_past_the_elapsed_budget_gives_up():
    policies = CallRetryPolicies()
    assert next_call_delay(policies, ErrorClass.RATE_LIMITED, 1, 1790.0, NO_JITTER, retry_after=60.0) is None


@pytest.mark.parametrize("error_class", [ErrorClass.PLAN_LIMIT, ErrorClass.FINAL])
def test_plan_limit_and_final_errors_are_never_retried_even_if_configured(error_class):
    policies = CallRetryPolicies().with_overrides({error_class.value: {"max_attempts": 10}})
    assert next_call_delay(policies, error_class, 1, 0.0, NO_JITTER) is None


def test_outcome_unknown_default_is_a_short_fixed_wait():
    assert delays(CallRetryPolicies(), ErrorClass.OUTCOME_UNKNOWN) == [10.0, 10.0, None]


def test_repository_overrides_change_only_the_fields_given():
    settings_policies = CallRetryPolicies().with_overrides(
        {"retryable": {"max_attempts": 8, "base_seconds": 1.0}}
    )
    repo_policies = settings_policies.with_overrides({"retryable": {"max_attempts": 2}})
    policy = repo_policies.policy_for(ErrorClass.RETRYABLE)
    assert (policy.max_attempts, policy.base_seconds) == (2, 1.0)
    assert repo_policies.policy_for(ErrorClass.RATE_LIMITED) == CallRetryPolicies().policy_for(
        ErrorClass.RATE_LIMITED
    )


def test_bad_overrides_are_refused_with_the_key_named():
    with pytest.raises(ValidationError, match="max_attempts"):
        CallRetryPolicies().with_overrides({"retryable": {"max_attempts": 0}})
    with pytest.raises(ValidationError, match="sometimes"):
        CallRetryPolicies().with_overrides({"sometimes": {"max_attempts": 2}})
    with pytest.raises(ValidationError, match="backof"):
        CallRetryPolicies().with_overrides({"retryable": {"backof": "fixed"}})
