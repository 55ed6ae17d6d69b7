from datetime import UTC, datetime

import psycopg
import pytest

from codeloop.db import store
from codeloop.domain.lifecycle import IllegalTransition
from codeloop.domain.models import DeliveryStatus, Installation, NewTask, RepositoryRef


@pytest.fixture
def repo(conn):
    store.upsert_installation(conn, Installation(id=7, account_login="octo-org"))
    repository = store.upsert_repository(
        conn, RepositoryRef(id=42, full_name="octo-org/widgets"), installation_id=7
    )
    conn.commit()
    return repository


def _task(repo, **overrides) -> NewTask:
    fields = {
        "repository_id": repo.id,
        "title": "Fix the flaky parser",
        "type": "bug_fix",
        "requirements": ["keep the API"],
        "acceptance_criteria": ["tests pass"],
        "issue_number": 3,
    }
    return NewTask(**(fields | overrides))


def test_installations_and_repositories(conn, repo):
    assert store.get_installation(conn, 7).account_login == "octo-org"
    assert store.get_repository_by_name(conn, "OCTO-ORG/Widgets").id == 42
    store.set_installation_suspended(conn, 7, datetime.now(UTC))
    assert store.get_installation(conn, 7).suspended_at is not None
    store.set_installation_suspended(conn, 7, None)
    assert store.get_installation(conn, 7).suspended_at is None

    updated = store.update_repository_settings(conn, 42, test_commands=["pytest -q"], iteration_budget=5)
    assert updated.test_commands == ["pytest -q"] and updated.iteration_budget == 5
    assert updated.setup_commands == []
    with pytest.raises(ValueError, match="unknown repository settings"):
        store.update_repository_settings(conn, 42, colour="blue")

    store.deactivate_repository(conn, 42)
    assert store.get_repository(conn, 42).active is False
    store.upsert_repository(conn, RepositoryRef(id=42, full_name="octo-org/widgets"), installation_id=7)
    assert store.get_repository(conn, 42).active is True

    store.mark_installation_deleted(conn, 7)
    assert store.get_installation(conn, 7).deleted_at is not None
    assert store.get_repository(conn, 42).active is False


def test_create_read_update_task(conn, repo):
    task = store.create_task(conn, _task(repo, metadata={"k": "v"}))
    assert task.status == "pending" and task.attempt == 0 and task.metadata == {"k": "v"}
    assert store.get_task(conn, task.id) == task
    assert store.get_task(conn, "00000000-0000-0000-0000-000000000000") is None
    with pytest.raises(store.NotFound):
        store.require_task(conn, "00000000-0000-0000-0000-000000000000")

    updated = store.update_task(conn, task.id, pr_number=9, head_sha="abc", metadata={"x": 1})
    assert (updated.pr_number, updated.head_sha, updated.branch) == (9, "abc", None)
    assert updated.metadata == {"k": "v", "x": 1}
    assert updated.updated_at >= task.updated_at
    with pytest.raises(ValueError, match="cannot change: status"):
        store.update_task(conn, task.id, status="completed")

    assert store.latest_task_for_thread(conn, repo.id, 3).id == task.id
    assert store.latest_task_for_thread(conn, repo.id, 9).id == task.id
    assert store.latest_task_for_thread(conn, repo.id, 4) is None
    assert [t.id for t in store.list_tasks(conn, repository_id=repo.id, status="pending")] == [task.id]
    assert store.list_tasks(conn, status="failed") == []


def test_invalid_task_rows_are_refused_by_the_database(conn, repo):
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("insert into tasks (repository_id, title, complexity) values (42, 't', 11)")


def test_create_many_tasks_in_one_call(conn, repo):
    tasks = store.create_tasks(conn, [_task(repo, title=f"task {i}", priority="high") for i in range(25)])
    assert len(tasks) == 25 and {t.priority for t in tasks} == {"high"}
    assert store.create_tasks(conn, []) == []


def test_transitions_follow_the_lifecycle_and_log_errors(conn, repo):
    task = store.create_task(conn, _task(repo))
    for status in ("queued", "prompting", "generating"):
        task = store.transition_task(conn, task.id, status)
    assert task.status == "generating" and task.completed_at is None
    with pytest.raises(IllegalTransition):
        store.transition_task(conn, task.id, "pending")
    failed = store.transition_task(conn, task.id, "failed", step="DispatchCodegen", error="agent down")
    assert failed.completed_at is not None
    assert failed.error_log[-1]["step"] == "DispatchCodegen" and failed.error_log[-1]["error"] == "agent down"
    assert store.transition_task(conn, task.id, "queued").completed_at is None


def test_audit_rows_are_written_by_triggers(conn, repo):
    conn.execute(
        "select set_config('codeloop.actor', 'octocat', false), "
        "set_config('codeloop.correlation_id', 'delivery-1', false)"
    )
    task = store.create_task(conn, _task(repo))
    store.transition_task(conn, task.id, "queued")
    store.update_task(conn, task.id, head_sha="abc")  # not a status change: no audit row
    store.transition_task(conn, task.id, "cancelled")
    entries = store.task_audit(conn, task.id)
    assert [e.action for e in entries] == ["created", "status_changed", "status_changed"]
    queued = entries[1]
    assert queued.old_values["status"] == "pending" and queued.new_values["status"] == "queued"
    assert "status" in queued.changed_fields and "updated_at" not in queued.changed_fields
    assert (queued.actor, queued.correlation_id) == ("octocat", "delivery-1")
    assert entries[2].new_values["status"] == "cancelled"


def test_transaction_sets_actor_for_the_audit(db_url, repo):
    from codeloop.db.pool import transaction

    with transaction(actor="api:ci-key", correlation_id="corr-9") as tx:
        task = store.create_task(tx, _task(repo))
    with transaction() as tx:
        entries = store.task_audit(tx, task.id)
    assert (entries[0].actor, entries[0].correlation_id) == ("api:ci-key", "corr-9")


def test_deliveries_are_unique_and_track_status(conn):
    fields = {
        "delivery_id": "d-1",
        "event": "issue_comment",
        "action": "created",
        "installation_id": 7,
        "repository_id": 42,
        "repository_full_name": "octo-org/widgets",
        "payload": {"a": 1},
    }
    first = store.insert_delivery(conn, **fields)
    assert first.status == "received"
    assert store.insert_delivery(conn, **fields) is None
    assert store.get_delivery_payload(conn, "d-1") == {"a": 1}
    assert [d.delivery_id for d in store.stuck_deliveries(conn, older_than_seconds=0)] == ["d-1"]
    queued = store.set_delivery_status(conn, "d-1", DeliveryStatus.QUEUED)
    assert queued.queued_at is not None
    assert store.stuck_deliveries(conn, older_than_seconds=0) == []
    done = store.set_delivery_status(conn, "d-1", DeliveryStatus.PROCESSED)
    assert done.processed_at is not None and done.attempts == 1
    assert store.get_delivery(conn, "d-1").status == "processed"
    with pytest.raises(store.NotFound):
        store.get_delivery_payload(conn, "nope")


def test_workflow_ledger(conn, repo):
    task = store.create_task(conn, _task(repo))
    name = f"{task.id}-1"
    store.start_execution(conn, task.id, name, "arn:exec")
    again = store.start_execution(conn, task.id, name)
    assert again.execution_arn == "arn:exec"
    store.start_step(conn, name, "BuildPrompt", 1)
    step = store.finish_step(conn, name, "BuildPrompt", 1, "succeeded")
    assert step.duration_ms is not None and step.duration_ms >= 0
    store.start_step(conn, name, "DispatchCodegen", 1)
    store.finish_step(conn, name, "DispatchCodegen", 1, "failed", error="402 plan limit")
    store.finish_execution(conn, name, "failed", error="402 plan limit")
    [execution] = store.task_history(conn, task.id)
    assert execution.status == "failed"
    assert [(s.step, s.status) for s in execution.steps] == [
        ("BuildPrompt", "succeeded"),
        ("DispatchCodegen", "failed"),
    ]


def test_one_task_per_request_key(conn, repo):
    first = store.create_task(conn, _task(repo, request_key="delivery-1:0"))
    again = store.create_task(conn, _task(repo, request_key="delivery-1:0", title="another title"))
    assert again.id == first.id and again.title == first.title
    other = store.create_task(conn, _task(repo, request_key="delivery-1:1"))
    assert other.id != first.id
    assert store.create_task(conn, _task(repo)).id != store.create_task(conn, _task(repo)).id
