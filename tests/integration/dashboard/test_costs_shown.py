"""The dashboard shows what the ledger knows: a task's cost, each attempt's, and cost per green PR."""

from __future__ import annotations

from codeloop.db import store
from codeloop.db.pool import transaction
from codeloop.domain.models import NewTask
from tests.integration.dashboard.test_pages import base, operator  # noqa: F401 (fixture)
from tests.integration.dispatch.test_costs import spend


def test_the_task_page_shows_its_cost_and_each_attempts(base):  # noqa: F811
    with transaction() as conn:
        task = store.create_task(conn, NewTask(repository_id=1, title="priced"))
        task = store.update_task(conn, task.id, attempt=1)
    spend(task, usd="0.25", seconds=90)
    with transaction() as conn:
        conn.execute(
            "update usage_records set input_tokens = 1200, output_tokens = 300 where task_id = %s",
            (str(task.id),),
        )
        conn.execute(
            "insert into validation_runs (task_id, attempt, head_sha, status, finished_at)"
            " values (%s, 1, 'abc', 'passed', now())",
            (str(task.id),),
        )
    with operator(base) as client:
        page = client.get(f"/app/tasks/{task.id}").text
        stats = client.get("/app/stats").text
    assert '<dd id="task-cost">$0.25 (1,200 tokens in, 300 out; agents 1.5 min)</dd>' in page
    assert "Cost: $0.25 (1,200 tokens in, 300 out; agents 1.5 min)." in page
    assert '<dd id="cost-per-green">$0.25</dd>' in stats


def test_a_task_without_calls_says_so(base):  # noqa: F811
    with transaction() as conn:
        task = store.create_task(conn, NewTask(repository_id=1, title="free"))
    with operator(base) as client:
        page = client.get(f"/app/tasks/{task.id}").text
    assert '<dd id="task-cost">nothing spent yet</dd>' in page
