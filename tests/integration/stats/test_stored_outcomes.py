"""A task's outcome is stored when it ends (migration 0025), against real PostgreSQL: once, however
often the workflow's last note is delivered; gone while a retry runs and written anew when it ends;
and a call the ledger records after the end is in it. Template selection and the stats read it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.rows import dict_row

from codeloop.db import learning_store, migrations, outcome_stats, store
from codeloop.db.pool import transaction
from codeloop.domain.costs import Charge, Usage
from codeloop.domain.lifecycle import TaskStatus
from codeloop.domain.models import NewTask, RepositoryRef
from codeloop.services import syncer
from codeloop.services.costs import ledger
from codeloop.services.tasks import actions
from tests.integration.stats.test_stats import T0, seed_tasks

REPOSITORY = 1


@pytest.fixture
def repository(db_url, waiting_workflow):
    """A repository with no installation: the syncer has nothing to publish to GitHub for it."""
    with transaction() as conn:
        store.upsert_repository(
            conn, RepositoryRef(id=REPOSITORY, full_name="octo/widgets"), installation_id=None
        )
        conn.execute("insert into prompt_templates (id) values ('bug_fix')")
        conn.execute(
            "insert into prompt_template_versions (template_id, version, body, content_hash)"
            " values ('bug_fix', 1, 'body', 'h1')"
        )
    return REPOSITORY


def start(repository_id: int):
    new = NewTask(repository_id=repository_id, title="Fix the crash", type="bug_fix", complexity=4)
    return actions.create_and_start(new, actor="test")


def attempt(task_id, number: int, verdict: str) -> None:
    """One attempt's steps as the workflow's workers record them: its prompt, then its validation."""
    with transaction() as conn:
        store.transition_task(conn, task_id, TaskStatus.PROMPTING)
        conn.execute(
            "insert into rendered_prompts (task_id, attempt, template_id, template_version, selection_reason,"
            " body, size_chars, context_chars, sha256) values (%s, %s, 'bug_fix', 1, 'r', 'b', 1, 0, 'x')",
            (task_id, number),
        )
        store.transition_task(conn, task_id, TaskStatus.GENERATING)
        store.transition_task(conn, task_id, TaskStatus.VALIDATING)
        conn.execute(
            "insert into validation_runs (task_id, attempt, head_sha, status, finished_at)"
            " values (%s, %s, 'abc', %s, now())",
            (task_id, number, verdict),
        )


def note_delivered_twice(task_id, event: str) -> None:
    """The workflow's last note, and its redelivery (SQS delivers at least once)."""
    note = {"task_id": str(task_id), "event": event}
    if event == "workflow_failed":
        note["error"] = {"Error": "ValidationFailed", "Cause": "1 test failed"}
    syncer.on_status(note)
    syncer.on_status(note)


def stored(task_id) -> tuple[list[dict], list[dict]]:
    with transaction() as conn:
        outcomes = conn.execute(
            "select template_id, template_version, green from task_outcomes where task_id = %s", (task_id,)
        ).fetchall()
        figures = conn.execute(
            "select attempt, template, green_at is not null as green, usd, unpriced_calls"
            " from task_figures where task_id = %s",
            (task_id,),
        ).fetchall()
    return outcomes, figures


def selection_counts(repository_id: int) -> set[tuple]:
    with transaction() as conn:
        rows = learning_store.template_outcomes(conn, ["bug_fix"], "bug_fix", repository_id)
    return {(r.template_id, r.version, r.green, r.not_green) for r in rows}


def stats_total(repository_id: int) -> outcome_stats.OutcomeFigures:
    now = datetime.now(UTC)
    with transaction() as conn:
        return outcome_stats.collect(conn, now - timedelta(days=1), now + timedelta(minutes=1)).total


def test_an_ended_task_counts_once_and_a_retry_replaces_its_outcome(repository):
    task = start(repository)
    attempt(task.id, 1, "failed")
    assert stored(task.id) == ([], [])  # running: nothing stored yet

    note_delivered_twice(task.id, "workflow_failed")

    assert stored(task.id) == (
        [{"template_id": "bug_fix", "template_version": 1, "green": False}],
        [{"attempt": 1, "template": "bug_fix@1", "green": False, "usd": None, "unpriced_calls": 0}],
    )
    assert selection_counts(repository) == {("bug_fix", 1, 0, 1)}
    assert (stats_total(repository).tasks, stats_total(repository).green) == (1, 0)

    actions.retry(task.id, actor="test")
    assert stored(task.id) == ([], [])  # running again: not an outcome, as before it ended
    assert selection_counts(repository) == set()
    assert stats_total(repository).tasks == 1  # the stats still count it, computed while it runs

    attempt(task.id, 2, "passed")
    note_delivered_twice(task.id, "workflow_succeeded")

    assert stored(task.id) == (
        [{"template_id": "bug_fix", "template_version": 1, "green": True}],
        [{"attempt": 2, "template": "bug_fix@1", "green": True, "usd": None, "unpriced_calls": 0}],
    )
    assert selection_counts(repository) == {("bug_fix", 1, 1, 0)}
    total = stats_total(repository)
    assert (total.tasks, total.green, total.attempts_per_task) == (1, 1, 2)


def test_an_agent_run_seen_ending_after_a_cancel_is_in_the_stored_figures_once(repository):
    task = start(repository)
    actions.cancel(task.id, actor="test")
    assert stored(task.id) == ([], [{"attempt": 1, "template": None, "green": False, "usd": None,
                                     "unpriced_calls": 0}])  # fmt: skip

    run = Usage(operation="invoke_agent", provider="codegen", duration_seconds=60, external_id="run-1")
    for _ in range(2):  # the run's end is seen twice
        ledger.record(Charge(task_id=str(task.id), attempt=1), run)

    assert stored(task.id)[1] == [
        {"attempt": 1, "template": None, "green": False, "usd": None, "unpriced_calls": 1}
    ]
    assert stats_total(repository).unpriced_calls == 1


def test_two_calls_recorded_at_once_after_the_end_both_count(repository, db_url):
    """The second writer of an ended task's outcome waits for the first, then sees its rows: before,
    it deleted on its old snapshot, collided on task_figures' key and lost its usage row."""
    import threading

    task = start(repository)
    actions.cancel(task.id, actor="test")
    charge = Charge(task_id=str(task.id), attempt=1)
    runs = [Usage(operation="invoke_agent", provider="codegen", duration_seconds=60, external_id=f"run-{n}")
            for n in (1, 2)]  # fmt: skip
    failures: list[BaseException] = []

    def second_writer() -> None:
        try:
            ledger.record(charge, runs[1])
        except BaseException as exc:  # reported by the test
            failures.append(exc)

    with transaction() as first:
        ledger.record(charge, runs[0], first)  # holds the task's row lock until this block commits
        writer = threading.Thread(target=second_writer)
        writer.start()
        with psycopg.connect(db_url, autocommit=True) as watcher:
            for _ in range(200):  # until the second writer waits on that lock
                waiting = watcher.execute(
                    "select count(*) from pg_stat_activity where wait_event_type = 'Lock'"
                    " and datname = current_database()"
                ).fetchone()[0]
                if waiting:
                    break
                threading.Event().wait(0.05)
        assert waiting, "the second writer never waited for the first"
    writer.join(30)
    assert failures == []
    assert stored(task.id)[1] == [
        {"attempt": 1, "template": None, "green": False, "usd": None, "unpriced_calls": 2}
    ]


def test_the_migration_stores_the_outcomes_of_the_tasks_that_ended_before_it(empty_db_url):
    migrations.migrate(empty_db_url)
    since_outcome_tables = [m for m in migrations.discover() if m.version >= 25]
    migrations.rollback(empty_db_url, steps=len(since_outcome_tables))  # back when outcomes were views
    with psycopg.connect(empty_db_url, row_factory=dict_row) as conn:
        seed_tasks(conn)  # test_stats: 5 tasks ended, 2 running, all features
        conn.commit()
        computed = learning_store.template_outcomes(conn, ["bug_fix", "feature"], "feature", repository_id=1)
        conn.commit()

        migrations.migrate(empty_db_url)

        assert (
            learning_store.template_outcomes(conn, ["bug_fix", "feature"], "feature", repository_id=1)
            == computed
        )
        assert len(computed) == 4
        assert conn.execute("select count(*) from task_figures").fetchone()["count"] == 5
        total = outcome_stats.collect(conn, T0 - timedelta(days=1), T0 + timedelta(days=1)).total
        assert (total.tasks, total.green, str(total.seconds_to_green_p50)) == (7, 3, "600.0")


def test_rolling_back_the_outcome_tables_hands_unlimited_caps_back_to_the_setting(empty_db_url):
    """Before 0025 a cap was USD or not set: an "unlimited" one (numeric Infinity) would not load."""
    migrations.migrate(empty_db_url)
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        conn.execute(
            "insert into installation_budgets (installation_id, max_usd_per_day, max_usd_per_month)"
            " values (7, 'Infinity', 25)"
        )
    since_outcome_tables = [m for m in migrations.discover() if m.version >= 25]
    migrations.rollback(empty_db_url, steps=len(since_outcome_tables))
    with psycopg.connect(empty_db_url) as conn:
        caps = conn.execute("select max_usd_per_day, max_usd_per_month from installation_budgets").fetchone()
    assert caps == (None, 25)
