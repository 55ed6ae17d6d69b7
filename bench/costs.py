"""bench/costs: what the cost ledger adds to a call, the budget check before an agent call, and the
outcomes over a month of history.

Seeds 20 repositories x 1,000 tasks, all but one ended (3 attempts, a passed validation for half,
4 ledger rows a task: 80,000 rows) in a scratch database and stores their outcomes as their ends
would (what migration 0025's backfill does), then times: recording one call (price, insert, log,
EMF) while its task runs and after it ended, the four-limit budget check, the outcomes one prompt
build's template selection reads, and ``outcomes`` of GET /api/v1/stats over every repository.
"""

from __future__ import annotations

import contextlib
import io
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import percentiles, scratch_database

REPOSITORIES, TASKS_EACH, ROUNDS = 20, 1_000, 200


def seed(conn) -> str:
    """The history; returns the one task still running."""
    conn.execute("insert into installations (id, account_login) values (1, 'bench')")
    conn.execute(
        "insert into repositories (id, installation_id, full_name)"
        " select r, 1, 'bench/repo-' || r from generate_series(1, %s) r",
        (REPOSITORIES,),
    )
    conn.execute("insert into prompt_templates (id) values ('feature')")
    conn.execute(
        "insert into prompt_template_versions (template_id, version, body, content_hash)"
        " select 'feature', v, 'b', 'h' || v from generate_series(1, 3) v"
    )
    conn.execute(
        "insert into tasks (repository_id, title, status, attempt, created_at)"
        " select 1 + (n %% %s), 't', 'completed', 3, now() - (n %% 28) * interval '1 day'"
        " from generate_series(1, %s) n",
        (REPOSITORIES, REPOSITORIES * TASKS_EACH),
    )
    conn.execute(
        "insert into rendered_prompts (task_id, attempt, template_id, template_version, selection_reason,"
        " body, size_chars, context_chars, sha256)"
        " select id, a, 'feature', 1 + (abs(hashtext(id::text)) % 3), 'r', 'b', 1, 0, 'x'"
        " from tasks, generate_series(1, 3) a"
    )
    conn.execute(
        "insert into validation_runs (task_id, attempt, head_sha, status, created_at, finished_at)"
        " select id, 3, 'abc', case when abs(hashtext(id::text)) % 2 = 0 then 'passed' else 'failed' end,"
        " created_at + interval '10 min', created_at + interval '20 min' from tasks"
    )
    conn.execute(
        "insert into usage_records (task_id, attempt, repository_id, installation_id, operation, provider,"
        " model, input_tokens, output_tokens, duration_seconds, cost_usd, recorded_at)"
        " select id, a, repository_id, 1, 'chat', 'openai', 'gpt-4o-mini', 12000, 800, 4.2, 0.0025, created_at"
        " from tasks, generate_series(1, 4) a"
    )
    running = "update tasks set status = 'generating' where id = (select id from tasks order by id limit 1) returning id"
    return str(conn.execute(running).fetchone()["id"])


def tasks_end(conn) -> None:
    """Store every seeded task's outcome, as store.transition_task does when a task ends."""
    from codeloop.db import store

    store.record_task_outcomes(conn, [row["id"] for row in conn.execute("select id from tasks")])


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    import os

    os.environ["MODEL_PRICES"] = '{"gpt-4o-mini": {"input": 0.15, "output": 0.6}}'
    os.environ["INSTALLATION_MAX_USD_PER_DAY"] = "1000"
    from codeloop.db import learning_store, outcome_stats
    from codeloop.db.pool import make_pool, transaction
    from codeloop.domain.costs import Charge, TaskBudget, Usage
    from codeloop.observability import logger
    from codeloop.services.costs import budgets, ledger
    from codeloop.settings import reset_settings

    reset_settings()
    with scratch_database() as url:
        pool = make_pool(url, max_size=2)
        os.environ["DATABASE_URL"] = url
        reset_settings()
        start = time.perf_counter()
        with transaction(pool=pool) as conn:
            task_id = seed(conn)
        print(f"seeded {REPOSITORIES * TASKS_EACH:,} tasks and {REPOSITORIES * TASKS_EACH * 4:,} ledger rows "
              f"in {time.perf_counter() - start:.1f} s")  # fmt: skip
        start = time.perf_counter()
        with transaction(pool=pool) as conn:
            tasks_end(conn)
            conn.execute("analyze")
            ended_id = str(conn.execute("select id from tasks order by id desc limit 1").fetchone()["id"])
        print(f"stored their outcomes (the backfill) in {time.perf_counter() - start:.1f} s")

        usage = Usage(operation="chat", provider="openai", model="gpt-4o-mini", input_tokens=12000,
                      output_tokens=800, duration_seconds=4.2)  # fmt: skip
        logger.setLevel("WARNING")  # not the 200 log lines
        with contextlib.redirect_stdout(io.StringIO()):  # nor the EMF documents
            record = [timed(lambda: ledger.record(Charge(task_id=task_id, attempt=1), usage)) for _ in range(ROUNDS)]
            late = [timed(lambda: ledger.record(Charge(task_id=ended_id, attempt=3), usage)) for _ in range(ROUNDS)]
        print(f"record one call (price, insert, log, EMF):   {percentiles(record)}")
        print(f"  after its task ended (its outcome rewritten): {percentiles(late)}")
        budget = TaskBudget(max_usd=5, max_agent_minutes=60)
        check = [timed(lambda: budgets.task_stop(task_id, 1, budget)) for _ in range(ROUNDS)]
        print(f"budget check before an agent call (4 limits): {percentiles(check)}")
        with transaction(pool=pool) as conn:
            selection = [
                timed(lambda: learning_store.template_outcomes(conn, ["feature"], "feature", 1)) for _ in range(ROUNDS)
            ]
        print(f"outcomes read by one prompt build's selection: {percentiles(selection)}")
        now = datetime.now(UTC)
        with transaction(pool=pool) as conn:
            stats = [timed(lambda: outcome_stats.collect(conn, now - timedelta(days=30), now)) for _ in range(5)]
            total = outcome_stats.collect(conn, now - timedelta(days=30), now).total
        print(f"outcomes over 30 days, every grouping:        {percentiles(stats)}")
        print(f"  total: {total.tasks:,} tasks, green rate {total.green_rate}, ${total.usd_per_green} per green PR")


if __name__ == "__main__":
    main()
