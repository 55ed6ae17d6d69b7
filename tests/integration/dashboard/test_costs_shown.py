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


def test_the_stats_page_charts_cost_per_green_by_day_over_its_period(base):  # noqa: F811
    """The figures count the tasks of the last 30 days (read as the stats API reads them): a task
    requested before then is in none of them, however much it cost."""
    costs = {"recent": "0.40", "old": "9.00"}
    with transaction() as conn:
        tasks = {
            title: store.update_task(conn, store.create_task(conn, NewTask(repository_id=1, title=title)).id, attempt=1)
            for title in costs
        }
    for title, usd in costs.items():
        spend(tasks[title], usd=usd)
    with transaction() as conn:
        for task in tasks.values():
            conn.execute(
                "insert into validation_runs (task_id, attempt, head_sha, status, finished_at)"
                " values (%s, 1, 'abc', 'passed', now())",
                (str(task.id),),
            )
        conn.execute("update tasks set created_at = now() - interval '40 days' where id = %s", (str(tasks["old"].id),))
    with operator(base) as client:
        stats = client.get("/app/stats").text
    assert 'id="stats-period">Tasks requested since ' in stats and "(the last 30 days)" in stats
    assert "<dt>Tasks</dt><dd>1</dd>" in stats
    assert '<dd id="cost-per-green">$0.40</dd>' in stats
    chart = stats.split('aria-label="Cost per green pull request, by day requested (USD)"')[1].split("</svg>")[0]
    assert chart.count('class="bar"') == 1 and ": 0.4 USD</title></rect>" in chart
    assert "<td>$0.40</td>" in stats and "$9.00" not in stats
