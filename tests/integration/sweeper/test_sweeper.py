"""The sweeper: nothing accepted is lost, nothing stuck stays stuck."""

from __future__ import annotations

import json

import pytest

from codeloop.adapters.aws import client
from codeloop.db import store
from codeloop.db.pool import transaction
from codeloop.domain.models import DeliveryStatus, Installation, NewTask, RepositoryRef
from codeloop.services import sweeper
from codeloop.services.tasks import actions as tasks
from codeloop.settings import reset_settings
from tests.conftest import receive_all


@pytest.fixture
def world(db_url, waiting_workflow, github_fake):
    repo = github_fake.add_repo("octo/widgets", installation_id=7)
    with transaction() as conn:
        store.upsert_installation(conn, Installation(id=7, account_login="octo"))
        store.upsert_repository(conn, RepositoryRef(id=repo.id, full_name="octo/widgets"), installation_id=7)
    return {"github": github_fake, "repo": repo}


def age(sql: str) -> None:
    """Make rows look older than the sweeper's grace periods (triggers off: updated_at keeps its value)."""
    with transaction() as conn:
        conn.execute("set local session_replication_role = replica")
        conn.execute(sql)


def stored_comment(world, delivery_id: str, status: DeliveryStatus = DeliveryStatus.RECEIVED) -> None:
    """A comment delivery on the world's repository, stored as the receiver stores one."""
    with transaction() as conn:
        store.insert_delivery(
            conn,
            delivery_id=delivery_id,
            event="issue_comment",
            action="created",
            installation_id=7,
            repository_id=world["repo"].id,
            repository_full_name="octo/widgets",
            payload={"action": "created"},
            status=status,
        )


def test_a_delivery_stored_but_never_queued_is_queued_again(world, aws):
    stored_comment(world, "d-lost")
    assert sweeper.requeue_stuck_deliveries(None) == 0  # still within its grace period
    age("update webhook_deliveries set received_at = now() - interval '5 minutes'")

    assert sweeper.sweep()["requeued_deliveries"] == 1
    [message] = receive_all(aws["EVENTS_QUEUE_URL"])
    assert message["body"]["delivery_id"] == "d-lost"
    assert message["attributes"]["MessageGroupId"] == "octo/widgets"
    with transaction() as conn:
        assert store.get_delivery(conn, "d-lost").status == "queued"


def test_a_replay_whose_send_failed_is_sent_by_the_sweeper_with_what_it_asked(world, aws, monkeypatch):
    """`codeloop deliveries replay ID --new-task` from a shell with no queue (or a failed send)
    leaves the delivery 'received': the sweeper's message must still ask for new tasks."""
    from codeloop.services.intake.replay import replay_delivery

    stored_comment(world, "d-replayed", DeliveryStatus.PROCESSED)
    queue_url = aws["EVENTS_QUEUE_URL"]
    monkeypatch.delenv("EVENTS_QUEUE_URL")
    reset_settings()
    outcome = replay_delivery("d-replayed", actor="cli", scope=None, new_task=True)
    assert outcome is not None and outcome.status == "accepted"  # stored, not sent
    monkeypatch.setenv("EVENTS_QUEUE_URL", queue_url)
    reset_settings()
    age("update webhook_deliveries set received_at = now() - interval '5 minutes'")

    assert sweeper.sweep()["requeued_deliveries"] == 1
    [message] = receive_all(queue_url)
    assert message["body"]["delivery_id"] == "d-replayed"
    assert message["body"]["replay"] == {"id": outcome.replay_id, "new_task": True}


def test_a_delivery_stored_as_queued_but_never_sent_is_sent_once_a_period(world, aws):
    """The receiver stores a delivery as 'queued', then sends it; one that stopped in between (a
    Lambda timeout, a crash) leaves a row that says queued for a message that never was."""
    stored_comment(world, "d-unsent", DeliveryStatus.QUEUED)
    with transaction() as conn:
        assert store.get_delivery(conn, "d-unsent").queued_at is not None
    age("update webhook_deliveries set queued_at = now() - interval '10 minutes'")
    assert sweeper.requeue_stuck_deliveries(None) == 0  # perhaps only behind a backlog: not yet
    age("update webhook_deliveries set queued_at = now() - interval '20 minutes'")

    assert sweeper.sweep()["requeued_deliveries"] == 1
    [message] = receive_all(aws["EVENTS_QUEUE_URL"])
    assert message["body"]["delivery_id"] == "d-unsent"
    assert sweeper.requeue_stuck_deliveries(None) == 0  # claimed: not sent again until another period
    with transaction() as conn:
        assert store.get_delivery(conn, "d-unsent").status == "queued"


def test_failed_github_deliveries_we_never_stored_are_redelivered(world):
    github = world["github"]
    lost = github.add_delivery(status_code=502, guid="g-lost")
    github.add_delivery(status_code=200, guid="g-fine")
    stored = github.add_delivery(status_code=504, guid="g-stored")  # it timed out at GitHub, but we have it
    healed = github.add_delivery(status_code=500, guid="g-healed")
    github.add_delivery(status_code=200, guid="g-healed", redelivery=True)
    with transaction() as conn:
        store.insert_delivery(
            conn,
            delivery_id="g-stored",
            event="issue_comment",
            action="created",
            installation_id=7,
            repository_id=None,
            repository_full_name=None,
            payload={},
        )

    assert sweeper.redeliver_failed_github_deliveries(sweeper_now()) == 1
    assert github.redelivered == [lost["id"]]
    assert stored["id"] not in github.redelivered and healed["id"] not in github.redelivered


def test_a_queued_task_whose_workflow_never_started_is_started(world, waiting_workflow):
    with transaction() as conn:
        task = store.create_task(conn, NewTask(repository_id=world["repo"].id, title="stuck"))
        store.transition_task(conn, task.id, "queued")
        store.update_task(conn, task.id, attempt=1)
    age("update tasks set updated_at = now() - interval '5 minutes'")

    assert sweeper.sweep()["launched_tasks"] == 1
    with transaction() as conn:
        task = store.require_task(conn, task.id)
    execution = client("stepfunctions").describe_execution(executionArn=task.workflow_execution_arn)
    assert execution["name"] == f"{task.id}-1" and execution["status"] == "RUNNING"
    assert json.loads(execution["input"])["max_attempts"] == 4


def test_an_execution_that_ended_silently_ends_its_task_visibly(world):
    task = tasks.create_and_start(NewTask(repository_id=world["repo"].id, title="lost"), actor="test")
    client("stepfunctions").stop_execution(executionArn=task.workflow_execution_arn, error="Operator")
    age("update workflow_executions set started_at = now() - interval '1 hour'")

    assert sweeper.end_silent_executions(sweeper_now()) == 1
    with transaction() as conn:
        task = store.require_task(conn, task.id)
        [execution] = store.task_history(conn, task.id)
    assert task.status == "failed" and "ABORTED" in task.error_log[-1]["error"]
    assert execution.status == "aborted"


def test_an_execution_step_functions_does_not_know_has_ended(world):
    task = tasks.create_and_start(NewTask(repository_id=world["repo"].id, title="forgotten"), actor="test")
    unknown = task.workflow_execution_arn.rsplit(":", 1)[0] + ":an-execution-of-a-deleted-stack"
    with transaction() as conn:
        conn.execute("update workflow_executions set execution_arn = %s", (unknown,))
    age("update workflow_executions set started_at = now() - interval '1 hour'")

    assert sweeper.sweep()["ended_executions"] == 1
    with transaction() as conn:
        task = store.require_task(conn, task.id)
        [execution] = store.task_history(conn, task.id)
    assert task.status == "failed" and "no record of this execution" in task.error_log[-1]["error"]
    assert execution.status == "failed"
    assert sweeper.sweep()["ended_executions"] == 0  # ended once, not reported on every run


def test_one_failing_part_does_not_stop_the_others(world, monkeypatch):
    world["github"].fail_next(10, 500, path_prefix="/app/hook/deliveries")  # its deliveries API is down
    summary = sweeper.sweep()
    assert summary["redelivered"].startswith("failed:")
    assert summary["requeued_deliveries"] == 0 and summary["launched_tasks"] == 0


def sweeper_now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


def test_bookkeeping_past_the_rate_window_is_pruned_and_what_the_limits_still_need_stays(world):
    """Replies to strangers' comments and limit notices go once they are older than the command
    rate window; expired dashboard sessions and spent or expired login links go at once."""
    from datetime import timedelta

    from codeloop.db import intake_store
    from codeloop.settings import get_settings

    now = sweeper_now()
    window = timedelta(seconds=get_settings().command_rate_window_seconds)
    minute = timedelta(minutes=1)
    with transaction() as conn:
        for comment_id, replied_at in ((1, now - window - minute), (2, now - window + minute), (3, now)):
            conn.execute("insert into comment_replies values (%s, %s)", [comment_id, replied_at])
        notices = (
            ("gone", now - window - minute),
            ("over", now - window + minute),
            ("limited", now + minute),
        )
        for login, until in notices:
            conn.execute("insert into limit_notices values (%s, %s)", [login, until])
        for token, expires_at, used_at in (
            ("used", now + minute, now - minute),
            ("expired", now - minute, None),
            ("live", now + minute, None),
        ):
            conn.execute(
                "insert into dashboard_login_links (token_hash, expires_at, used_at) values (%s, %s, %s)",
                [token, expires_at, used_at],
            )
        for id_hash, expires_at in (("ended", now - minute), ("signed-in", now + window)):
            conn.execute(
                "insert into dashboard_sessions (id_hash, login, csrf_token, expires_at) values (%s, 'alice', 'c', %s)",
                [id_hash, expires_at],
            )

    summary = sweeper.sweep(now)

    assert summary["pruned_intake"] == {"comment_replies": 1, "limit_notices": 1}
    assert summary["pruned_dashboard"] == {"sessions": 1, "login_links": 2}
    with transaction() as conn:
        left = {
            table: sorted(row["k"] for row in conn.execute(sql).fetchall())
            for table, sql in (
                ("comment_replies", "select comment_id as k from comment_replies"),
                ("limit_notices", "select login as k from limit_notices"),
                ("dashboard_login_links", "select token_hash as k from dashboard_login_links"),
                ("dashboard_sessions", "select id_hash as k from dashboard_sessions"),
            )
        }
        # What stays still works: the comment within the window gets no second reply, the user
        # still limited gets no second notice.
        assert not intake_store.claim_comment_reply(conn, 2)
        assert not intake_store.claim_limit_notice(conn, "limited", now + window, now)
    assert left == {
        "comment_replies": [2, 3],
        "limit_notices": ["limited", "over"],
        "dashboard_login_links": ["live"],
        "dashboard_sessions": ["signed-in"],
    }
    assert sweeper.sweep(now)["pruned_intake"] == {"comment_replies": 0, "limit_notices": 0}
