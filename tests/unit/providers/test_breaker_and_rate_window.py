"""The breaker's transitions and the sliding rate bucket, as pure functions of the clock."""

from datetime import UTC, datetime, timedelta

from codeloop.domain.breaker import Breaker, BreakerPolicy, BreakerState, admit, on_failure, on_success
from codeloop.domain.rate_window import take

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
POLICY = BreakerPolicy(failure_threshold=3, window=timedelta(seconds=60), cooldown=timedelta(seconds=30))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_failures_open_the_breaker_only_within_the_window():
    breaker = Breaker(provider="codegen")
    breaker = on_failure(on_failure(breaker, at(0), POLICY), at(10), POLICY)
    breaker = on_failure(breaker, at(70), POLICY)  # the window restarted: 1 failure, not 3
    assert (breaker.state, breaker.failures) == (BreakerState.CLOSED, 1)
    breaker = on_failure(on_failure(breaker, at(80), POLICY), at(90), POLICY)
    assert breaker.state is BreakerState.OPEN and breaker.opened_at == at(90)


def test_one_probe_after_the_cooldown_and_its_outcome_decides():
    opened = Breaker(provider="codegen", state=BreakerState.OPEN, failures=3, opened_at=at(0))
    assert admit(opened, at(29), POLICY) == (False, opened)
    admitted, probing = admit(opened, at(30), POLICY)
    assert admitted and probing.state is BreakerState.HALF_OPEN
    assert admit(probing, at(31), POLICY)[0] is False  # only one probe at a time
    assert admit(probing, at(30) + POLICY.probe_timeout, POLICY)[0] is True  # the probe never reported
    assert on_failure(probing, at(35), POLICY).state is BreakerState.OPEN
    assert on_success(probing) == Breaker(provider="codegen")


def test_the_bucket_allows_a_burst_and_never_more_than_the_limit_in_any_window():
    taken: tuple[datetime, ...] = ()
    grants = []
    for second in range(0, 180):
        grant = take(taken, at(second), 10, timedelta(seconds=60))
        if grant.granted:
            grants.append(second)
        taken = grant.taken_at
    assert grants[:10] == list(range(10))  # the burst
    assert grants[10:20] == list(range(60, 70))  # each token returns a window after it was taken
    assert all(sum(1 for g in grants if start <= g < start + 60) <= 10 for start in range(180))


def test_a_refusal_says_when_the_next_token_returns():
    taken = tuple(at(s) for s in (0, 5, 9))
    refused = take(taken, at(20), 3, timedelta(seconds=60))
    assert not refused.granted and refused.wait_seconds == 40.0
