"""The codegen dispatcher: its overhead per run, and the schedule it keeps under the rate limit.

1. Overhead: ``dispatch_codegen_step`` for N tasks against real PostgreSQL and the GitHub and
   Codegen fakes on loopback; prints p50/p99 wall time per dispatch, the part spent waiting on
   the fakes' HTTP answers (config read, create), and the rest: our own time.
2. Schedule: 100 queued tasks dispatched through the shared bucket (10 new runs a minute) on a
   simulated clock; a refused delivery comes back when the bucket says. Prints when runs were
   created and the most created in any 60 seconds.

Run: .venv/bin/python bench/dispatch.py [tasks]
"""

from __future__ import annotations

import contextlib
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import pytest

from bench._support import percentiles, scratch_database
from codeloop.db import dispatch_store, store
from codeloop.db.pool import close_pool, transaction
from codeloop.domain.models import Installation, NewTask, RepositoryRef
from codeloop.domain.steps import StepMessage, StepPending
from codeloop.services.agents.dispatch import dispatch_codegen_step
from codeloop.services.agents.providers import reset_providers
from codeloop.settings import reset_settings
from tests.fakes.codegen_api import FakeCodegenApi
from tests.fakes.github import github_fake_environment
from tests.integration.dispatch.conftest import insert_prompt

REPO = "octo/widgets"


def overhead(url: str, count: int) -> None:
    with (
        pytest.MonkeyPatch.context() as env,
        github_fake_environment(env) as github,
        FakeCodegenApi() as codegen,
    ):
        repo = github.add_repo(REPO, installation_id=7)
        codegen.add_repo(REPO, repo.id)
        for key, value in {
            "DATABASE_URL": url,
            "CODEGEN_API_URL": codegen.url,
            "CODEGEN_API_KEY": codegen.api_key,
            "CODEGEN_ORG_ID": str(codegen.org_id),
            "PROVIDERS": "codegen",
            "CODEGEN_RUNS_PER_MINUTE": "1000000",
        }.items():
            env.setenv(key, value)
        env.delenv("STATUS_QUEUE_URL", raising=False)
        reset_settings()
        reset_providers()
        with transaction() as conn:
            store.upsert_installation(conn, Installation(id=7, account_login="octo"))
            store.upsert_repository(conn, RepositoryRef(id=repo.id, full_name=REPO), installation_id=7)
            conn.execute(
                "insert into prompt_templates (id) values ('test');"
                "insert into prompt_template_versions (template_id, version, body, content_hash)"
                " values ('test', 1, 'x', 'h1')"
            )
            tasks = store.create_tasks(
                conn, [NewTask(repository_id=repo.id, title=f"Task {i}") for i in range(count + 1)]
            )
        messages = [
            StepMessage(
                task_token=f"token-{task.id}",
                execution_name=f"{task.id}-1",
                step="DispatchCodegen",
                task_id=str(task.id),
                attempt=1,
                prompt_id=insert_prompt(task.id, 1, f"Do task {task.title}"),
            )
            for task in tasks
        ]
        in_http = [0.0]
        send = httpx.Client.send

        def timed_send(client, request, **kwargs):
            started = time.perf_counter()
            try:
                return send(client, request, **kwargs)
            finally:
                in_http[0] += time.perf_counter() - started

        env.setattr(httpx.Client, "send", timed_send)
        whole, http, own = [], [], []
        for message in messages:  # the first warms clients, the App token and the repository id cache
            in_http[0] = 0.0
            started = time.perf_counter()
            with contextlib.suppress(StepPending):
                dispatch_codegen_step(message)
            elapsed = time.perf_counter() - started
            whole.append(elapsed * 1e3)
            http.append(in_http[0] * 1e3)
            own.append((elapsed - in_http[0]) * 1e3)
        runs = len(codegen.calls_to("POST", f"/v1/organizations/{codegen.org_id}/agent/run"))
        print(f"dispatch, whole step        {percentiles(whole[1:])}   runs created: {runs}")
        print(f"  waiting on the fakes      {percentiles(http[1:])}   (config read + create, loopback)")
        print(f"  our own time (DB + code)  {percentiles(own[1:])}")
        reset_providers()
        close_pool()


def schedule(url: str, tasks: int = 100, limit: int = 10) -> None:
    """Deliveries arrive at once; each refused one returns after the bucket's wait (SQS DelaySeconds)."""
    import heapq
    import math

    start = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    pending = [(0.0, task) for task in range(tasks)]
    heapq.heapify(pending)
    created: list[float] = []
    deliveries = 0
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DATABASE_URL", url)
        reset_settings()
        while pending:
            at, task = heapq.heappop(pending)
            deliveries += 1
            with transaction() as conn:
                grant = dispatch_store.take_token(
                    conn, "codegen-bench", start + timedelta(seconds=at), limit, timedelta(minutes=1)
                )
            if grant.granted:
                created.append(at)
            else:
                heapq.heappush(pending, (at + max(1, math.ceil(grant.wait_seconds)), task))
        close_pool()
    most = max(sum(1 for t in created if s <= t < s + 60) for s in created)
    minutes = [
        sum(1 for t in created if m * 60 <= t < (m + 1) * 60) for m in range(math.ceil(created[-1] / 60) + 1)
    ]
    print(f"{tasks} tasks at {limit}/min: last run created at {created[-1]:.0f} s; {deliveries} deliveries")
    print(f"runs per minute: {minutes}; most in any 60 s: {most}")


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with scratch_database() as url:
        overhead(url, count)
        schedule(url)


if __name__ == "__main__":
    main()
