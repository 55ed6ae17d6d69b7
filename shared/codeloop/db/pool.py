"""One connection pool per process, created at first use and reused across warm invocations."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from codeloop.settings import get_settings


def database_url() -> str:
    return get_settings().secret("database_url")


@functools.cache
def get_pool() -> ConnectionPool:
    settings = get_settings()
    return make_pool(database_url(), max_size=settings.db_pool_max_size)


def make_pool(url: str, *, max_size: int = 4) -> ConnectionPool:
    # min_size=1 keeps one connection warm for the next invocation; open=True fails fast on a
    # bad URL instead of on the first query.
    pool = ConnectionPool(
        url,
        min_size=1,
        max_size=max_size,
        kwargs={"row_factory": dict_row, "autocommit": False},
        open=False,
        name="codeloop",
    )
    pool.open(wait=True, timeout=10)
    return pool


def close_pool() -> None:
    if get_pool.cache_info().currsize:
        get_pool().close()
        get_pool.cache_clear()


@contextmanager
def transaction(
    *, actor: str | None = None, correlation_id: str | None = None, pool: ConnectionPool | None = None
) -> Iterator[psycopg.Connection]:
    """A connection inside one transaction; commits on success, rolls back on error.

    ``actor`` and ``correlation_id`` reach the audit triggers as transaction-local settings.
    """
    with (pool or get_pool()).connection() as conn, conn.transaction():
        if actor or correlation_id:
            conn.execute(
                "select set_config('codeloop.actor', %s, true), set_config('codeloop.correlation_id', %s, true)",
                (actor or "", correlation_id or ""),
            )
        yield conn
