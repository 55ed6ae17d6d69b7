"""One connection pool per process, created at first use and reused across warm invocations."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar

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
    # min_size=1 keeps one connection warm for the next invocation. The pool opens without
    # waiting for it: a caller bounds its own wait (``transaction(wait=...)``), so the HTTP front
    # answers 503 at once when the database is down instead of spending its whole timeout here.
    pool = ConnectionPool(
        url,
        min_size=1,
        max_size=max_size,
        kwargs={"row_factory": dict_row, "autocommit": False},
        open=False,
        name="codeloop",
    )
    pool.open(wait=False)
    return pool


def front_wait() -> float:
    """How long the HTTP front waits for a database connection before answering 503."""
    return get_settings().front_db_wait_seconds


def close_pool() -> None:
    if get_pool.cache_info().currsize:
        get_pool().close()
        get_pool.cache_clear()


# The connection that ``transaction()`` uses in this thread while a ``pinned_connection()`` block runs.
_pinned: ContextVar[psycopg.Connection | None] = ContextVar("codeloop_pinned_connection", default=None)


@contextmanager
def pinned_connection() -> Iterator[psycopg.Connection]:
    """One pool connection for everything this thread does inside the block.

    For session state that must outlive single transactions, such as an advisory lock: every
    ``transaction()`` inside runs (and commits) on this connection instead of taking a second one
    from the pool, so holders of such state can never exhaust the pool waiting on each other.
    Nested blocks share the outer connection.
    """
    current = _pinned.get()
    if current is not None:
        yield current
        return
    with get_pool().connection() as conn:
        token = _pinned.set(conn)
        try:
            yield conn
        finally:
            _pinned.reset(token)


@contextmanager
def transaction(
    *,
    actor: str | None = None,
    correlation_id: str | None = None,
    pool: ConnectionPool | None = None,
    wait: float | None = None,
) -> Iterator[psycopg.Connection]:
    """A connection inside one transaction; commits on success, rolls back on error.

    ``actor`` and ``correlation_id`` reach the audit triggers as transaction-local settings.
    ``wait`` bounds the wait for a connection (the pool's default, 30 s, otherwise); past it,
    ``psycopg_pool.PoolTimeout`` (a ``psycopg.OperationalError``). Inside ``pinned_connection()``
    (and with no explicit ``pool``) it runs on the pinned connection.
    """
    pinned = _pinned.get() if pool is None else None
    source = nullcontext(pinned) if pinned is not None else (pool or get_pool()).connection(timeout=wait)
    with source as conn, conn.transaction():
        if actor or correlation_id:
            conn.execute(
                "select set_config('codeloop.actor', %s, true), set_config('codeloop.correlation_id', %s, true)",
                (actor or "", correlation_id or ""),
            )
        yield conn


@contextmanager
def autocommitted(*, wait: float | None = None) -> Iterator[psycopg.Connection]:
    """A pool connection whose statements each commit on their own, for one statement that needs
    no transaction around it and fires no audit trigger: one round trip to the database where
    ``transaction()`` takes four (BEGIN, the audit context, the statement, COMMIT). ``wait``
    bounds the wait for a connection, as for ``transaction()``. Not inside ``pinned_connection()``,
    whose point is that its thread takes no second connection."""
    if _pinned.get() is not None:
        raise RuntimeError("autocommitted() inside pinned_connection(): use transaction() there")
    with get_pool().connection(timeout=wait) as conn:
        conn.autocommit = True
        try:
            yield conn
        finally:
            if not conn.closed:
                conn.autocommit = False
