"""bench/intake: what the trust checks on intake cost, on real PostgreSQL.

- a command's rate-limit take (the user's and the installation's sliding windows, one transaction),
  at the default capacities, 50 users on one installation (its window fills to 300, then refuses);
- the per-task publish lock around a publish (hold and release on the pinned connection), alone
  and with 8 threads contending for one task.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import percentiles, scratch_database

from codeloop.db.locks import task_lock
from codeloop.db.pool import close_pool
from codeloop.services.intake import limits as command_limits
from codeloop.settings import reset_settings

ROUNDS = 500


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    with scratch_database() as url:
        os.environ["DATABASE_URL"] = url
        reset_settings()
        try:
            takes = [
                timed(lambda n=n: command_limits.take("replies", f"user{n % 50}", 1, datetime.now(UTC)))
                for n in range(ROUNDS)
            ]
            print(f"rate-limit take per command (user + installation windows): {percentiles(takes)}")
            task_id = str(uuid.uuid4())

            def locked_publish_stub() -> None:
                with task_lock("publish", task_id):
                    pass

            alone = [timed(locked_publish_stub) for _ in range(ROUNDS)]
            print(f"publish lock hold + release, uncontended: {percentiles(alone)}")
            with ThreadPoolExecutor(max_workers=8) as pool:
                contended = list(pool.map(lambda _: timed(locked_publish_stub), range(ROUNDS)))
            print(f"publish lock hold + release, 8 threads on one task (pool of 4): {percentiles(contended)}")
        finally:
            close_pool()


if __name__ == "__main__":
    main()
