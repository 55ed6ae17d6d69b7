"""bench/db: single-row task operations (p50/p99) and one call inserting 1000 tasks.

Seeds' targets: < 100 ms an operation, < 5 s for 1000. Our aim on loopback: p99 <= 5 ms, <= 0.3 s.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import percentiles, scratch_database

from codeloop.db import store
from codeloop.db.pool import make_pool, transaction
from codeloop.domain.models import Installation, NewTask, RepositoryRef

ROUNDS = 500


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    with scratch_database() as url:
        pool = make_pool(url, max_size=2)
        with transaction(pool=pool) as conn:
            store.upsert_installation(conn, Installation(id=1, account_login="bench"))
            store.upsert_repository(conn, RepositoryRef(id=1, full_name="bench/repo"), installation_id=1)
        new = NewTask(repository_id=1, title="bench task", requirements=["r"], acceptance_criteria=["a"])

        def run(op):
            with transaction(pool=pool) as conn:
                return op(conn)

        for _ in range(50):  # warm the pool and the server's plan caches
            run(lambda c: store.create_task(c, new))

        created, read, updated, moved = [], [], [], []
        for _ in range(ROUNDS):
            start = time.perf_counter()
            task_id = run(lambda c: store.create_task(c, new)).id
            created.append((time.perf_counter() - start) * 1000)
            read.append(timed(lambda t=task_id: run(lambda c: store.get_task(c, t))))
            updated.append(timed(lambda t=task_id: run(lambda c: store.update_task(c, t, head_sha="abc123"))))
            moved.append(timed(lambda t=task_id: run(lambda c: store.transition_task(c, t, "queued"))))

        print(f"task create       {percentiles(created)}")
        print(f"task read         {percentiles(read)}")
        print(f"task update       {percentiles(updated)}")
        print(f"status transition {percentiles(moved)}")

        batches = []
        for _ in range(5):
            batches.append(timed(lambda: run(lambda c: store.create_tasks(c, [new] * 1000))))
        print(
            f"insert 1000 tasks in one call: best {min(batches):.1f} ms, median {sorted(batches)[2]:.1f} ms"
        )
        pool.close()


if __name__ == "__main__":
    main()
