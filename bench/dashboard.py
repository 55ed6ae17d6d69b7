"""bench/dashboard: with 10,000 tasks seeded, how fast the dashboard renders the tasks list (first
page, a filtered page, a page deep in the cursor) and a task page (two attempts: steps, prompts,
validation reports), the Stats and the Health pages, over HTTP on loopback through the local
stack's front, as a signed-in operator. Aim (issue 15): p95 <= 100 ms for the tasks list and a
task page. Most seeded tasks are still running, so the Stats page computes their figures at each
read (an ended task's are stored): a harder case than a real installation's.
"""

from __future__ import annotations

import hashlib
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from _support import scratch_database

from codeloop.db import store
from codeloop.db.pool import close_pool, transaction
from codeloop.domain.models import Installation, NewTask, RepositoryRef, TaskType
from codeloop.settings import reset_settings

TASKS = 10_000
REPOSITORIES = 20
ROUNDS = 200
STATUSES = ["completed", "failed", "cancelled", "queued", "generating", "validating"]
REPORT = {
    "verdict": "failed",
    "summary": "1 test failed",
    "commands": [
        {"phase": "test", "command": "pytest -q", "exit_code": 1, "duration_seconds": 2.5,
         "output": "F\n" + "assert 1 == 2\n" * 200, "output_bytes": 3000}
    ],
    "failures": [{"name": "test_add", "framework": "pytest", "file": "tests/test_calc.py", "line": 4, "message": "assert -1 == 3"}],
    "failures_total": 1,
}  # fmt: skip


def p95(samples: list[float]) -> str:
    ordered = sorted(samples)
    return (
        f"p50 {ordered[len(ordered) // 2]:6.1f} ms   p95 {ordered[int(len(ordered) * 0.95)]:6.1f} ms"
        f"   (n={len(ordered)})"
    )


def seed() -> str:
    """10,000 tasks over 20 repositories; returns the id of one with two full attempts."""
    from codeloop.db import prompts_store
    from codeloop.services.prompting.versions import sync_templates

    rng = random.Random(7)
    with transaction() as conn:
        store.upsert_installation(conn, Installation(id=1, account_login="bench"))
        for n in range(1, REPOSITORIES + 1):
            store.upsert_repository(conn, RepositoryRef(id=n, full_name=f"bench/repo{n}"), installation_id=1)
        types = list(TaskType)
        new = [
            NewTask(repository_id=rng.randint(1, REPOSITORIES), title=f"task {i}", type=rng.choice(types),
                    requested_by=rng.choice(["alice", "bob", "carol", "api:ci"]))
            for i in range(TASKS)
        ]  # fmt: skip
        created = store.create_tasks(conn, new)
        for status in STATUSES:  # spread the statuses (and attempts) without 10,000 round trips
            conn.execute(
                "update tasks set status = %s, attempt = 1 + (random() * 3)::int where id = any(%s)",
                (status, [t.id for t in created if rng.random() < 0.16]),
            )
        # Requests arrive over time: spread the tasks over the last 30 days.
        conn.execute("update tasks set created_at = now() - random() * interval '30 days'")
        sync_templates(conn)
        template = prompts_store.templates(conn)[0]
        task = created[-1]
        for attempt in (1, 2):
            name = f"{task.id}-{attempt}"
            store.start_execution(conn, task.id, name)
            for step in ("BuildPrompt", "DispatchCodegen", "ValidatePR"):
                store.start_step(conn, name, step, attempt)
                store.finish_step(conn, name, step, attempt, "succeeded")
            body = "You are fixing a bug.\n" * 2000
            prompts_store.insert_rendered(
                conn, task_id=task.id, attempt=attempt, kind="initial" if attempt == 1 else "fix",
                template_id=template.id, template_version=1, template_sha256=None, selection_reason="bench",
                body=body, context_manifest={"budget": 60000, "used": 40000, "pieces": [
                    {"name": f"file:{i}", "title": f"File {i}", "status": "cut" if i % 3 else "full",
                     "kept_chars": 1000, "cut_chars": 200 * (i % 3)} for i in range(30)]},
                size_chars=len(body), context_chars=40000, context_budget=60000, task_chars=100,
                sha256=hashlib.sha256(body.encode()).hexdigest(), gathering=[],
            )  # fmt: skip
            conn.execute(
                "insert into validation_runs (task_id, attempt, head_sha, status, results) values (%s, %s, %s, %s, %s)",
                (task.id, attempt, "a" * 40, "failed" if attempt == 1 else "passed",
                 __import__("json").dumps(REPORT | ({} if attempt == 1 else {"verdict": "passed", "failures": []}))),
            )  # fmt: skip
        conn.execute("update tasks set attempt = 2, status = 'completed' where id = %s", (task.id,))
        # As ending a task does (store.transition_task): the ended tasks' outcomes, for the stats.
        store.record_task_outcomes(conn, [t.id for t in created])
        conn.execute("analyze")
    return str(task.id)


def timed(client: httpx.Client, url: str) -> float:
    start = time.perf_counter()
    answer = client.get(url)
    elapsed = (time.perf_counter() - start) * 1000
    assert answer.status_code == 200, (url, answer.status_code, answer.text[:300])
    return elapsed


def main() -> None:
    from codeloop.api.front import handle
    from codeloop.local.http import serve
    from codeloop.services.dashboard.access import create_login_link

    with scratch_database() as url:
        os.environ["DATABASE_URL"] = url
        reset_settings()
        try:
            task_id = seed()
            server = serve(handle, port=0)
            base = f"http://127.0.0.1:{server.server_address[1]}"
            with httpx.Client(base_url=base, follow_redirects=True) as client:
                client.get(create_login_link(base))  # an operator: every repository
                pages = {
                    "tasks list, first page": "/app/tasks",
                    "tasks list, filtered": "/app/tasks?repository=bench/repo3&status=failed",
                    "task page (2 attempts)": f"/app/tasks/{task_id}",
                    "stats": "/app/stats",
                    "health": "/app/health",
                }
                deep = client.get("/app/tasks").text
                for _ in range(20):  # walk 20 pages down the cursor
                    cursor = deep.split('id="next" href="')[1].split('"')[0].replace("&amp;", "&")
                    deep = client.get(cursor).text
                pages["tasks list, 21st page"] = cursor
                print(f"bench/dashboard: {TASKS} tasks over {REPOSITORIES} repositories, {ROUNDS} requests a page")
                for label, path in pages.items():
                    for _ in range(20):  # warm the pool, the templates and the plans
                        timed(client, path)
                    print(f"{label:26} {p95([timed(client, path) for _ in range(ROUNDS)])}")
            server.shutdown()
        finally:
            close_pool()


if __name__ == "__main__":
    main()
