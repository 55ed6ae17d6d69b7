"""Rate limits on slash-commands, per user and per installation, kept in PostgreSQL.

Two kinds: commands that start work (an agent run, a validation) and replies. Each limit is a
sliding window (``domain/rate_window.py``) in ``rate_buckets``, shared by every instance. A
user's bucket is taken before the installation's (always that order, so two takers never wait
on each other crosswise), all or nothing: a refused command spends no token of either.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from codeloop.db import dispatch_store, intake_store
from codeloop.db.pool import transaction
from codeloop.settings import get_settings

Kind = Literal["work", "replies"]
Scope = Literal["user", "installation"]


class Refusal(BaseModel):
    """Which limit said no, and when it lets the next one through."""

    model_config = ConfigDict(frozen=True)

    scope: Scope
    retry_at: datetime


class _Refused(Exception):
    """Raised inside the transaction so that tokens already taken in it are given back."""

    def __init__(self, refusal: Refusal):
        self.refusal = refusal


def _limits(kind: Kind, login: str, installation_id: int) -> list[tuple[str, int, Scope]]:
    settings = get_settings()
    per_user, per_installation = (
        (settings.work_commands_per_user, settings.work_commands_per_installation)
        if kind == "work"
        else (settings.replies_per_user, settings.replies_per_installation)
    )
    return [
        (f"commands:{kind}:user:{login.lower()}", per_user, "user"),
        (f"commands:{kind}:installation:{installation_id}", per_installation, "installation"),
    ]


def _window() -> timedelta:
    return timedelta(seconds=get_settings().command_rate_window_seconds)


def take(kind: Kind, login: str, installation_id: int, now: datetime) -> Refusal | None:
    """Count one ``kind`` for the user and the installation; a Refusal when either is spent."""
    try:
        with transaction() as conn:
            for bucket, capacity, scope in _limits(kind, login, installation_id):
                grant = dispatch_store.take_token(conn, bucket, now, capacity, _window())
                if not grant.granted:
                    raise _Refused(Refusal(scope=scope, retry_at=now + timedelta(seconds=grant.wait_seconds)))
    except _Refused as refused:
        return refused.refusal
    return None


def prune(now: datetime) -> dict[str, int]:
    """Forget the stranger replies and limit notices older than the window the limits count over
    (the sweeper's job): within it they still keep intake quiet, past it the limits alone do."""
    with transaction() as conn:
        return intake_store.prune(conn, now - _window())
