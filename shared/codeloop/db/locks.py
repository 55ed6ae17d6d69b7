"""Advisory locks that serialize work on one task across every process and thread."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

from codeloop.db.pool import pinned_connection
from codeloop.db.queries import query

# Longer than a publish takes with GitHub at its slowest (each call is bounded by its own timeout);
# past it the waiter fails and its queue message is retried, instead of waiting without end.
LOCK_WAIT = "60s"


@contextmanager
def task_lock(purpose: str, task_id: UUID | str) -> Iterator[None]:
    """Hold ``purpose``'s lock on the task for the block.

    The lock is a session lock on a pinned connection: every ``transaction()`` inside the block
    runs and commits on that same connection, so the holder never needs a second one from the
    pool, and the work done under the lock is visible to the next holder the moment it is done.
    """
    params = {"purpose": purpose, "task_id": str(task_id)}
    with pinned_connection() as conn:
        with conn.transaction():
            conn.execute(query("locks.bound_lock_wait"), {"wait": LOCK_WAIT})
            conn.execute(query("locks.hold_task_lock"), params)
        try:
            yield
        finally:
            with conn.transaction():
                conn.execute(query("locks.release_task_lock"), params)
