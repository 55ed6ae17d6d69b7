"""A shared rate limit as a bucket whose tokens come back one window after they were spent.

"10 new runs a minute" means at most 10 in ANY 60 seconds. A classic token bucket of capacity
10 refilling at 10/min lets 19 through in the minute after a burst; here each spent token
returns exactly ``window`` after it was taken (a sliding log of the last ``capacity`` grants),
so a full burst is allowed and the limit is never exceeded. Pure: ``now`` is an argument, so
the data layer applies it under a row lock and a benchmark can simulate the clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict


class Grant(BaseModel):
    model_config = ConfigDict(frozen=True)

    granted: bool
    wait_seconds: float = 0.0  # when refused: until the next token returns
    taken_at: tuple[datetime, ...] = ()  # the grants still inside the window, this one included


def take(taken_at: Sequence[datetime], now: datetime, capacity: int, window: timedelta) -> Grant:
    """Take one token at ``now`` if fewer than ``capacity`` were taken in the last ``window``."""
    recent = sorted(at for at in taken_at if at > now - window)
    if len(recent) < capacity:
        return Grant(granted=True, taken_at=(*recent, now))
    returns_at = recent[len(recent) - capacity] + window
    return Grant(
        granted=False, wait_seconds=max((returns_at - now).total_seconds(), 0.0), taken_at=tuple(recent)
    )
