"""A circuit breaker per code-generation provider, as pure transitions over its stored state.

closed ──(``failure_threshold`` failures within ``window``)──▶ open ──(``cooldown`` passed)──▶
half-open: exactly one caller is admitted as the probe; its success closes the breaker, its
failure opens it again. A probe that never reports (its Lambda died) is given up after
``probe_timeout`` and another caller may probe. The data layer applies these functions to
the provider's row under ``select … for update``, so every Lambda instance sees one breaker.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)

    failure_threshold: int = Field(default=5, ge=1)
    window: timedelta = timedelta(minutes=5)
    cooldown: timedelta = timedelta(minutes=2)
    probe_timeout: timedelta = timedelta(minutes=2)


class Breaker(BaseModel):
    """One provider's breaker as stored (table provider_breakers)."""

    model_config = ConfigDict(frozen=True)

    provider: str
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    window_started_at: datetime | None = None
    opened_at: datetime | None = None
    probe_until: datetime | None = None


def may_admit(breaker: Breaker, now: datetime, policy: BreakerPolicy) -> bool:
    """Whether a call could be admitted now (closed, or a probe is due); changes nothing."""
    if breaker.state is BreakerState.CLOSED:
        return True
    if breaker.state is BreakerState.OPEN:
        return breaker.opened_at is None or now >= breaker.opened_at + policy.cooldown
    return breaker.probe_until is None or now >= breaker.probe_until


def admit(breaker: Breaker, now: datetime, policy: BreakerPolicy) -> tuple[bool, Breaker]:
    """Admit a call or not; when the call is the half-open probe, the breaker records the claim."""
    if breaker.state is BreakerState.CLOSED:
        return True, breaker
    if not may_admit(breaker, now, policy):
        return False, breaker
    return True, breaker.model_copy(
        update={"state": BreakerState.HALF_OPEN, "probe_until": now + policy.probe_timeout}
    )


def on_success(breaker: Breaker) -> Breaker:
    return Breaker(provider=breaker.provider)


def on_failure(breaker: Breaker, now: datetime, policy: BreakerPolicy) -> Breaker:
    """Count a failure in the current window; open at the threshold, or at once if it was the probe."""
    if breaker.state is not BreakerState.CLOSED:
        return breaker.model_copy(update={"state": BreakerState.OPEN, "opened_at": now, "probe_until": None})
    window_over = breaker.window_started_at is None or now >= breaker.window_started_at + policy.window
    failures = 1 if window_over else breaker.failures + 1
    window_started_at = now if window_over else breaker.window_started_at
    if failures >= policy.failure_threshold:
        return breaker.model_copy(
            update={
                "state": BreakerState.OPEN,
                "failures": failures,
                "window_started_at": window_started_at,
                "opened_at": now,
                "probe_until": None,
            }
        )
    return breaker.model_copy(update={"failures": failures, "window_started_at": window_started_at})
