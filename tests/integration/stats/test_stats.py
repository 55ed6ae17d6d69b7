"""The stats figures, computed by PostgreSQL from seeded rows, and the route that serves them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from codeloop import cli
from codeloop.api.stats import router
from codeloop.db import stats_store, store

T0 = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)
TEMPLATES = {("feature", 1), ("feature", 2), ("bug_fix", 1)}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class Seeder:
    def __init__(self, conn):
        self.conn = conn
        conn.execute("insert into installations (id, account_login) values (7, 'octo')")
        conn.execute(
            "insert into repositories (id, installation_id, full_name) values"
            " (1, 7, 'octo/widgets'), (2, 7, 'octo/gadgets')"
        )
        for template_id, version in sorted(TEMPLATES):
            conn.execute(
                "insert into prompt_templates (id) values (%s) on conflict do nothing", (template_id,)
            )
            conn.execute(
                "insert into prompt_template_versions (template_id, version, body, content_hash)"
                " values (%s, %s, 'body', %s)",
                (template_id, version, f"{template_id}-{version}"),
            )

    def task(self, repository_id: int, status: str, attempt: int, retry_count: int = 0) -> str:
        task_id = str(uuid.uuid4())
        self.conn.execute(
            "insert into tasks (id, repository_id, title, status, attempt, retry_count, created_at)"
            " values (%s, %s, 't', %s, %s, %s, %s)",
            (task_id, repository_id, status, attempt, retry_count, T0),
        )
        return task_id

    def prompt(self, task_id: str, attempt: int, template: tuple[str, int], created: float = 0) -> None:
        self.conn.execute(
            "insert into rendered_prompts (task_id, attempt, template_id, template_version, selection_reason,"
            " body, size_chars, context_chars, sha256, created_at) values (%s, %s, %s, %s, 'r', 'b', 1, 0, 'x', %s)",
            (task_id, attempt, *template, at(created)),
        )

    def validation(self, task_id: str, attempt: int, status: str, created: float, finished: float) -> None:
        self.conn.execute(
            "insert into validation_runs (task_id, attempt, head_sha, status, created_at, finished_at)"
            " values (%s, %s, 'abc', %s, %s, %s)",
            (task_id, attempt, status, at(created), at(finished)),
        )

    def steps(self, task_id: str, execution: str, *steps: tuple[str, int, str, float]) -> None:
        """Steps as (name, attempt, status, finished after seconds); a running one has no end."""
        (execution_id,) = (
            self.conn.execute(
                "insert into workflow_executions (task_id, name, started_at) values (%s, %s, %s) returning id",
                (task_id, f"{task_id}-{execution}", T0),
            )
            .fetchone()
            .values()
        )
        for name, attempt, status, finished in steps:
            self.conn.execute(
                "insert into workflow_steps (execution_id, step, attempt, status, started_at, finished_at)"
                " values (%s, %s, %s, %s, %s, %s)",
                (execution_id, name, attempt, status, T0, None if status == "running" else at(finished)),
            )


def tasks_end(conn) -> None:
    """What the product does when a task ends (store.transition_task), for rows seeded as they are:
    store every task's outcome as its rows say now."""
    store.record_task_outcomes(conn, [row["id"] for row in conn.execute("select id from tasks")])


def attempt_steps(
    attempt: int,
    prompted: float,
    dispatched: float,
    validated: float,
    *,
    prompt="BuildPrompt",
    validation="succeeded",
) -> tuple[tuple[str, int, str, float], ...]:
    """One attempt's three steps for ``Seeder.steps``, finished after the given seconds."""
    return (
        (prompt, attempt, "succeeded", prompted),
        ("DispatchCodegen", attempt, "succeeded", dispatched),
        ("ValidatePR", attempt, validation, validated),
    )


def seed_tasks(conn) -> None:
    seed = Seeder(conn)
    # octo/widgets
    a1 = seed.task(1, "completed", attempt=2)  # fixed on its second attempt
    seed.prompt(a1, 1, ("feature", 1))
    seed.prompt(a1, 2, ("feature", 2))
    seed.validation(a1, 1, "failed", 110, 150)
    seed.validation(a1, 2, "passed", 500, 600)
    seed.steps(
        a1, "1", *attempt_steps(1, 5, 100, 150), *attempt_steps(2, 160, 400, 600, prompt="BuildFixPrompt")
    )
    a2 = seed.task(1, "failed", attempt=1)  # not validated: not_run says nothing about the prompt
    seed.prompt(a2, 1, ("bug_fix", 1), created=0)  # rebuilt: only the latest rendering counts
    seed.prompt(a2, 1, ("feature", 1), created=10)
    seed.validation(a2, 1, "not_run", 310, 311)
    seed.steps(a2, "1", *attempt_steps(1, 5, 300, 311, validation="failed"))
    a3 = seed.task(1, "completed", attempt=2, retry_count=1)  # retried, then passed
    seed.prompt(a3, 1, ("bug_fix", 1))
    seed.prompt(a3, 2, ("bug_fix", 1))
    seed.validation(a3, 1, "error", 210, 220)
    seed.validation(a3, 2, "passed", 900, 1000)
    seed.steps(a3, "1", *attempt_steps(1, 5, 200, 220, validation="failed"))
    seed.steps(a3, "2", *attempt_steps(2, 700, 800, 1000))
    a4 = seed.task(1, "failed", attempt=3, retry_count=2)  # retried twice, never passed
    for attempt in (1, 2, 3):
        seed.prompt(a4, attempt, ("feature", 2))
        seed.validation(a4, attempt, "failed", 400 * attempt, 400 * attempt + 50)
    seed.steps(a4, "1", ("DispatchCodegen", 1, "failed", 380))
    seed.task(1, "pending", attempt=0)
    # octo/gadgets
    b1 = seed.task(2, "completed", attempt=1)
    seed.prompt(b1, 1, ("feature", 1))
    seed.validation(b1, 1, "passed", 60, 120)
    seed.steps(b1, "1", *attempt_steps(1, 5, 50, 120))
    b2 = seed.task(2, "prompting", attempt=1)
    seed.steps(b2, "1", ("BuildPrompt", 1, "running", 0))


@pytest.fixture
def seeded(conn):
    seed_tasks(conn)
    tasks_end(conn)
    conn.commit()
    return conn


def figures(stats: stats_store.Stats) -> dict:
    return stats.model_dump(mode="json")


def test_figures_for_every_repository(seeded):
    stats = figures(stats_store.collect(seeded))
    assert stats["repository"] is None
    assert (stats["tasks"], stats["tasks_by_status"]) == (
        7,
        {"completed": 3, "failed": 2, "pending": 1, "prompting": 1},
    )
    assert stats["templates"] == [
        {
            "template_id": "bug_fix",
            "template_version": 1,
            "attempts": 2,
            "validated": 1,
            "passed": 1,
            "success_rate": 1.0,
        },
        {
            "template_id": "feature",
            "template_version": 1,
            "attempts": 3,
            "validated": 2,
            "passed": 1,
            "success_rate": 0.5,
        },
        {
            "template_id": "feature",
            "template_version": 2,
            "attempts": 4,
            "validated": 4,
            "passed": 1,
            "success_rate": 0.25,
        },
    ]
    assert stats["seconds"] == {
        "to_pull_request": {"count": 5, "p50": 200.0, "p90": 360.0},  # 50 100 200 300 400
        "to_green": {"count": 3, "p50": 600.0, "p90": 920.0},  # 120 600 1000
    }
    assert stats["steps"] == [
        {"step": "BuildFixPrompt", "finished": 1, "failed": 0, "error_rate": 0.0},
        {"step": "BuildPrompt", "finished": 5, "failed": 0, "error_rate": 0.0},  # the running one waits
        {"step": "DispatchCodegen", "finished": 7, "failed": 1, "error_rate": 0.1429},
        {"step": "ValidatePR", "finished": 6, "failed": 2, "error_rate": 0.3333},
    ]
    assert stats["retries"] == {"retried": 2, "completed": 1, "success_rate": 0.5}
    assert stats["attempts_per_task"] == {"tasks": 6, "mean": 1.67, "max": 3}


def test_figures_for_one_repository(seeded):
    widgets = figures(stats_store.collect(seeded, "Octo/Widgets"))
    assert (widgets["tasks"], widgets["tasks_by_status"]) == (5, {"completed": 2, "failed": 2, "pending": 1})
    assert [
        (
            t["template_id"],
            t["template_version"],
            t["attempts"],
            t["validated"],
            t["passed"],
            t["success_rate"],
        )
        for t in widgets["templates"]
    ] == [
        ("bug_fix", 1, 2, 1, 1, 1.0),
        ("feature", 1, 2, 1, 0, 0.0),
        ("feature", 2, 4, 4, 1, 0.25),
    ]
    assert widgets["seconds"] == {
        "to_pull_request": {"count": 4, "p50": 250.0, "p90": 370.0},
        "to_green": {"count": 2, "p50": 800.0, "p90": 960.0},
    }
    assert [(s["step"], s["finished"], s["failed"], s["error_rate"]) for s in widgets["steps"]] == [
        ("BuildFixPrompt", 1, 0, 0.0),
        ("BuildPrompt", 4, 0, 0.0),
        ("DispatchCodegen", 6, 1, 0.1667),
        ("ValidatePR", 5, 2, 0.4),
    ]
    assert widgets["retries"] == {"retried": 2, "completed": 1, "success_rate": 0.5}
    assert widgets["attempts_per_task"] == {"tasks": 4, "mean": 2.0, "max": 3}

    gadgets = figures(stats_store.collect(seeded, "octo/gadgets"))
    assert gadgets["retries"] == {"retried": 0, "completed": 0, "success_rate": None}
    assert gadgets["seconds"]["to_green"] == {"count": 1, "p50": 120.0, "p90": 120.0}
    assert gadgets["attempts_per_task"] == {"tasks": 2, "mean": 1.0, "max": 1}


def test_an_empty_database_has_no_figures_yet(conn):
    stats = figures(stats_store.collect(conn))
    assert stats == {
        "repository": None,
        "tasks": 0,
        "tasks_by_status": {},
        "templates": [],
        "seconds": {
            "to_pull_request": {"count": 0, "p50": None, "p90": None},
            "to_green": {"count": 0, "p50": None, "p90": None},
        },
        "steps": [],
        "retries": {"retried": 0, "completed": 0, "success_rate": None},
        "attempts_per_task": {"tasks": 0, "mean": None, "max": None},
        "prompt_quality": [],
    }


# -- the route -------------------------------------------------------------------------------------


@pytest.fixture
def api(seeded, capsys):
    assert cli.main(["apikey", "create", "dashboard", "--installation", "7"]) == 0
    key = capsys.readouterr().out.strip().splitlines()[-1]
    app = APIGatewayHttpResolver(enable_validation=True)
    app.include_router(router)
    return app, key


def get(app, query: str, key: str | None) -> tuple[int, dict]:
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/api/v1/stats",
        "rawQueryString": query,
        "queryStringParameters": dict(p.split("=", 1) for p in query.split("&")) if query else None,
        "headers": {"authorization": f"Bearer {key}"} if key else {},
        "requestContext": {
            "http": {"method": "GET", "path": "/api/v1/stats", "sourceIp": "127.0.0.1"},
            "requestId": "req-1",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }
    result = app.resolve(event, None)
    return result["statusCode"], json.loads(result["body"])


def test_the_route_serves_the_figures_behind_an_api_key(api, seeded):
    app, key = api
    assert without_outcomes(get(app, "", key)) == (200, figures(stats_store.collect(seeded)))
    assert without_outcomes(get(app, "repository=octo/gadgets", key)) == (
        200,
        figures(stats_store.collect(seeded, "octo/gadgets")),
    )


def without_outcomes(answer: tuple[int, dict]) -> tuple[int, dict]:
    """The figures apart from ``outcomes`` (over a period: tests/integration/stats/test_outcomes.py)."""
    status, body = answer
    return status, {key: value for key, value in body.items() if key != "outcomes"}


@pytest.mark.parametrize(
    ("query", "key", "status"),
    [
        ("", None, 401),
        ("", "cl_0000_not-a-key", 401),
        ("repository=octo/unknown", "valid", 404),
        ("repository=not-a-name", "valid", 422),
    ],
)
def test_the_route_refuses(api, query, key, status):
    app, valid = api
    code, body = get(app, query, valid if key == "valid" else key)
    assert code == status, body
