"""Outcomes and costs over a period (``outcomes`` of ``GET /api/v1/stats``), computed by PostgreSQL
from the seeded tasks of test_stats plus seeded ledger rows, and checked by hand."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from codeloop.db import outcome_stats
from tests.integration.api.test_api_key_scopes import create_key, request
from tests.integration.stats.test_stats import T0, api, get, seeded, tasks_end  # noqa: F401 (fixtures)

SINCE, UNTIL = datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC)
FIELDS = ("tasks", "green", "green_rate", "attempts_per_task", "usd", "unpriced_calls", "usd_per_green",
          "tokens_per_attempt", "seconds_to_green_p50", "seconds_to_green_mean")  # fmt: skip


def charge(conn, task_id: str, attempt: int, usd: str | None, tokens: tuple[int, int] | None = None) -> None:
    conn.execute(
        "insert into usage_records (task_id, attempt, repository_id, installation_id, operation, provider,"
        " model, input_tokens, output_tokens, duration_seconds, cost_usd, recorded_at)"
        " select id, %s, repository_id, 7, 'chat', 'openai', 'm', %s, %s, 1, %s, created_at from tasks where id = %s",
        (attempt, *(tokens or (None, None)), usd, task_id),
    )


def task_of(conn, attempt: int, template: str | None = None, repository_id: int = 1) -> str:
    """The seeded task (test_stats) with that attempt count and first template."""
    rows = conn.execute(
        "select t.id from tasks t left join lateral (select template_id || '@' || template_version as tpl"
        " from rendered_prompts p where p.task_id = t.id order by attempt, created_at desc limit 1) f on true"
        " where t.attempt = %s and t.repository_id = %s and f.tpl is not distinct from %s",
        (attempt, repository_id, template),
    ).fetchall()
    [row] = rows
    return str(row["id"])


@pytest.fixture
def charged(seeded):  # noqa: F811
    conn = seeded
    a1 = task_of(conn, 2, "feature@1")
    a3 = task_of(conn, 2, "bug_fix@1")
    a4 = task_of(conn, 3, "feature@2")
    b1 = task_of(conn, 1, "feature@1", repository_id=2)
    charge(conn, a1, 1, "0.10", (1000, 200))
    charge(conn, a1, 2, "0.20", (2000, 300))
    for attempt in (1, 2, 3):
        charge(conn, a4, attempt, "0.10", (100, 100))
    charge(conn, a3, 2, None)  # an agent run: no tokens, unpriced
    charge(conn, b1, 1, "0.05", (500, 100))
    # A task created before the period, with its spend: counted nowhere.
    old = str(uuid.uuid4())
    conn.execute(
        "insert into tasks (id, repository_id, title, status, attempt, created_at)"
        " values (%s, 1, 't', 'completed', 1, '2024-04-01')",
        (old,),
    )
    charge(conn, old, 1, "9.99", (10**6, 10**6))
    tasks_end(conn)
    conn.commit()
    return conn


def row(figures: outcome_stats.OutcomeFigures) -> tuple:
    values = figures.model_dump(mode="json")
    return tuple(values[field] for field in FIELDS)


def test_cost_per_green_pr_green_rate_attempts_time_to_green_and_tokens_in_total(charged):
    outcomes = outcome_stats.collect(charged, SINCE, UNTIL)
    # 7 tasks, 3 green (600 s, 1000 s, 120 s); $0.65 priced + 1 unpriced call; 4,700 tokens over 10 attempts.
    assert row(outcomes.total) == (
        7,
        3,
        "0.4286",
        "1.67",
        "0.650000",
        1,
        "0.216667",
        "470.0",
        "600.0",
        "573.3",
    )


def test_by_template_version_of_the_first_prompt(charged):
    by = {f.key: row(f) for f in outcome_stats.collect(charged, SINCE, UNTIL).by_template}
    assert by == {
        "feature@1": (3, 2, "0.6667", "1.33", "0.350000", 0, "0.175000", "1025.0", "360.0", "360.0"),
        "bug_fix@1": (1, 1, "1.0000", "2.00", None, 1, None, "0.0", "1000.0", "1000.0"),
        "feature@2": (1, 0, "0.0000", "3.00", "0.300000", 0, None, "200.0", None, None),
        "(no prompt)": (2, 0, "0.0000", "1.00", None, 0, None, "0.0", None, None),
    }


def test_by_repository_and_installation(charged):
    outcomes = outcome_stats.collect(charged, SINCE, UNTIL)
    by = {f.key: row(f) for f in outcomes.by_repository}
    assert by == {
        "octo/gadgets": (2, 1, "0.5000", "1.00", "0.050000", 0, "0.050000", "300.0", "120.0", "120.0"),
        "octo/widgets": (5, 2, "0.4000", "2.00", "0.600000", 1, "0.300000", "512.5", "800.0", "800.0"),
    }
    [installation] = outcomes.by_installation
    assert installation.key == "7" and row(installation) == row(outcomes.total)


def test_the_period_bounds_which_tasks_count(charged):
    before = outcome_stats.collect(charged, datetime(2024, 3, 1, tzinfo=UTC), SINCE)
    assert row(before.total)[:5] == (1, 0, "0.0000", "1.00", "9.990000")
    assert outcome_stats.collect(charged, T0.replace(day=7), UNTIL).total.tasks == 0


def test_the_route_takes_the_period_and_the_repository(api, charged):  # noqa: F811
    app, key = api
    status, body = get(app, "since=2024-05-01T00:00:00Z&until=2024-06-01T00:00:00Z", key)
    assert status == 200
    assert body["outcomes"]["total"]["usd_per_green"] == "0.216667"
    assert body["outcomes"]["since"].startswith("2024-05-01")
    status, body = get(app, "since=2024-05-01&until=2024-06-01&repository=octo/gadgets", key)
    assert [f["key"] for f in body["outcomes"]["by_repository"]] == ["octo/gadgets"]
    status, body = get(app, "", key)  # the last 30 days: the 2024 tasks are not in them
    assert body["outcomes"]["total"]["tasks"] == 0
    assert get(app, "since=yesterday", key)[0] == 422


@pytest.mark.parametrize(
    ("query", "parameter", "bound"),
    [
        ("until=0001-01-05T00:00:00Z", "until", "greater_than_equal"),  # 30 days before it: before year 1
        ("since=1999-12-31T23:59:59Z", "since", "greater_than_equal"),
        ("until=2100-01-01T00:00:01Z", "until", "less_than_equal"),
    ],
)
def test_a_period_outside_the_accepted_range_is_a_422_naming_the_parameter(
    seeded, capsys, query, parameter, bound  # noqa: F811
):
    """Through the Lambda's front. Powertools keeps only loc and type of a validation error; the
    accepted range itself is in the parameters' descriptions of the OpenAPI document."""
    key = create_key(capsys, "stats", "--installation", "7")
    answer = request("GET", "/api/v1/stats", key, query=query)
    assert (answer["status"], answer["body"]["detail"]) == (422, [{"loc": ["query", parameter], "type": bound}])


def test_the_api_document_names_the_accepted_period(db_url):
    document = request("GET", "/api/v1/openapi.json", "no key needed")["body"]
    described = {p["name"]: p["description"] for p in document["paths"]["/api/v1/stats"]["get"]["parameters"]}
    accepted = "from 2000-01-01T00:00:00Z to 2100-01-01T00:00:00Z"
    assert accepted in described["since"] and accepted in described["until"]
