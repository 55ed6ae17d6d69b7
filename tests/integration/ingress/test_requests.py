"""Commands, the label and installation events, acted on against real PostgreSQL, moto and the GitHub fake."""

import json
import re

import pytest

from codeloop.adapters.aws import client
from codeloop.api.front import handle
from codeloop.db import store
from codeloop.db.pool import transaction
from codeloop.domain.models import DeliveryStatus
from codeloop.services.intake.events import process_delivery
from codeloop.settings import reset_settings
from tests.conftest import receive_all
from tests.unit.ingress.payloads import SECRET, load, signed_headers

REPO = "Codertocat/Hello-World"


@pytest.fixture
def world(db_url, waiting_workflow, github_fake, monkeypatch):
    repo = github_fake.add_repo(
        REPO,
        files={".github/codeloop.yml": "iterations: 2\nvalidation:\n  test: [pytest -q]\n"},
        installation_id=957387,
    )
    repo.set_permission("maintainer", "write")
    repo.set_permission("reader", "read")
    assert repo.add_issue() == 1  # the examples' issue #1
    return {"fake": github_fake, "repo": repo}


def payload_for(world, fixture: str, **changes) -> dict:
    """A fixture's payload in the world's installation and repository, with ``a__b=value`` changes."""
    payload = load(fixture)
    payload.setdefault("installation", {})["id"] = 957387
    if "repository" in payload:
        payload["repository"]["id"] = world["repo"].id
    for path, value in changes.items():
        target = payload
        *parents, leaf = path.split("__")
        for key in parents:
            target = target[key]
        target[leaf] = value
    return payload


def deliver(world, fixture: str, *, delivery_id: str = "d-1", **changes) -> list[str]:
    payload = payload_for(world, fixture, **changes)
    event = fixture.split("/")[0]
    with transaction() as conn:
        store.insert_delivery(
            conn,
            delivery_id=delivery_id,
            event=event,
            action=payload.get("action"),
            installation_id=957387,
            repository_id=world["repo"].id,
            repository_full_name=REPO,
            payload=payload,
        )
    world["fake"].clear_calls()
    return process_delivery(delivery_id)


def comment_changes(world, body: str, login: str = "maintainer", user_type: str = "User") -> dict:
    """A new comment on issue #1, as changes to the ``issue_comment`` fixture."""
    comment_id = world["repo"].add_comment(1, body, login=login, user_type=user_type)
    world["comment_id"] = comment_id
    return {
        "comment__body": body,
        "comment__id": comment_id,
        "comment__user": {"login": login, "type": user_type},
        "sender": {"login": login, "type": user_type, "id": 1},
    }


def comment(world, body: str, login: str = "maintainer", user_type: str = "User", delivery_id: str = "d-1"):
    changes = comment_changes(world, body, login, user_type)
    return deliver(world, "issue_comment/created.payload.json", delivery_id=delivery_id, **changes)


def calls(world) -> list[tuple[str, str]]:
    return [
        (call.method, call.path)
        for call in world["fake"].calls_to()
        if not call.path.endswith("/access_tokens")
    ]


def replies(world) -> list[str]:
    return [
        c["body"]
        for c in world["repo"].comments.values()
        if c["user"]["type"] == "Bot"
        and "[bot]" in c["user"]["login"]
        and c["user"]["login"].startswith(world["fake"].app_slug)
    ]


def tasks_in(world) -> list:
    with transaction() as conn:
        return store.list_tasks(conn)


def test_fix_on_an_issue_from_a_writer_starts_a_task(world):
    outcome = comment(world, "Please look.\n/codeloop fix handle the empty list")
    assert outcome[0].startswith("started ")
    [task] = tasks_in(world)
    assert (task.type, task.status, task.attempt, task.requested_by) == (
        "issue_to_pr",
        "queued",
        1,
        "maintainer",
    )
    assert task.description == "handle the empty list" and task.issue_number == 1 and task.pr_number is None
    assert task.request_key == "d-1:0"
    execution = client("stepfunctions").describe_execution(executionArn=task.workflow_execution_arn)
    assert json.loads(execution["input"])["max_attempts"] == 3  # attempt 1 + iterations 2 from the config
    base = f"/repos/{REPO}"
    assert calls(world) == [
        ("GET", f"{base}/contents/.github/codeloop.yml"),
        ("GET", f"{base}/collaborators/maintainer/permission"),
        ("POST", f"{base}/issues/comments/{world['comment_id']}/reactions"),
        ("GET", f"{base}/issues/1/comments"),  # the task's one comment: found by its marker, else created
        ("POST", f"{base}/issues/1/comments"),
    ]
    [status_comment] = replies(world)
    assert status_comment.startswith(f"<!-- codeloop:task:{task.id} -->")
    with transaction() as conn:
        assert store.get_task(conn, task.id).status_comment_id is not None
    with transaction() as conn:
        assert store.get_delivery(conn, "d-1").status == DeliveryStatus.PROCESSED
        repository = store.get_repository(conn, world["repo"].id)
    assert repository.test_commands == ["pytest -q"] and repository.iteration_budget == 2


def test_a_redelivered_command_makes_one_task(world):
    comment(world, "/codeloop fix")
    with transaction() as conn:
        conn.execute("update webhook_deliveries set status = 'queued'")
    process_delivery("d-1")
    assert len(tasks_in(world)) == 1


def test_a_reader_is_refused_politely_and_nothing_runs(world):
    assert comment(world, "/codeloop fix", login="reader") == ["refused"]
    assert tasks_in(world) == []
    [reply] = replies(world)
    assert "Sorry @reader" in reply and "write" in reply


def test_bots_never_trigger_anything(world):
    assert comment(world, "/codeloop fix", login="codeloop[bot]", user_type="Bot") == ["ignored: bot"]
    assert calls(world) == [] and tasks_in(world) == []


@pytest.mark.parametrize(
    ("body", "login", "expected"),
    [
        ("/codeloop help", "reader", "Here is what I can do"),
        ("/codeloop frobnicate", "maintainer", "I don't know `/codeloop frobnicate`"),
    ],
)
def test_help_and_unknown_commands_answer_with_help(world, body, login, expected):
    comment(world, body, login=login)
    [reply] = replies(world)
    assert expected in reply and "/codeloop fix" in reply


def test_config_shows_the_effective_file_or_its_problems(world):
    comment(world, "/codeloop config")
    assert "iterations: 2" in replies(world)[0] and "timeout_minutes: 20" in replies(world)[0]
    world["repo"].commit_files("main", {".github/codeloop.yml": "iterations: 2\nvalidaton: {}\n"})
    comment(world, "/codeloop config", delivery_id="d-2")
    assert "validaton: Extra inputs are not permitted" in replies(world)[1]
    assert comment(world, "/codeloop fix", delivery_id="d-3") == ["refused: config"]
    assert tasks_in(world) == []


def test_status_cancel_and_retry_act_on_the_thread_task(world):
    comment(world, "/codeloop status", delivery_id="d-0")
    assert "No codeloop task here yet" in replies(world)[0]
    comment(world, "/codeloop fix")
    comment(world, "/codeloop cancel", delivery_id="d-2")
    [task] = tasks_in(world)
    assert task.status == "cancelled" and task.error_log[-1]["error"] == "cancelled by @maintainer"
    comment(world, "/codeloop retry", delivery_id="d-3")
    [task] = tasks_in(world)
    assert (task.status, task.attempt) == ("queued", 2)
    comment(world, "/codeloop status", delivery_id="d-4")
    assert "**queued** (attempt 2)" in replies(world)[-1]
    comment(world, "/codeloop retry", delivery_id="d-5")
    assert "I can't retry that" in replies(world)[-1]


def test_the_codeloop_label_starts_a_task_for_who_added_it(world):
    outcome = deliver(
        world,
        "issues/labeled.payload.json",
        label={"name": "codeloop"},
        sender={"login": "maintainer", "type": "User", "id": 1},
    )
    assert outcome[0].startswith("started ")
    [task] = tasks_in(world)
    assert (task.source, task.requested_by) == ("label", "maintainer")
    assert ("POST", f"/repos/{REPO}/issues/comments/") not in calls(world)


def test_another_label_does_nothing(world):
    assert deliver(world, "issues/labeled.payload.json") == []
    assert tasks_in(world) == [] and calls(world) == []


def test_installation_events_keep_the_tables_true(world):
    deliver(world, "installation/created.payload.json", delivery_id="i-1")
    with transaction() as conn:
        installation = store.get_installation(conn, 957387)
        repository = store.get_repository_by_name(conn, "Codertocat/Hello-World")
    assert installation.account_login == "Codertocat" and repository.active
    deliver(
        world,
        "installation/created.payload.json",
        delivery_id="i-2",
        action="suspend",
        installation__suspended_at="2026-11-21T10:00:00Z",
    )
    with transaction() as conn:
        assert store.get_installation(conn, 957387).suspended_at is not None
    deliver(world, "installation/created.payload.json", delivery_id="i-3", action="unsuspend")
    with transaction() as conn:
        assert store.get_installation(conn, 957387).suspended_at is None
    deliver(world, "installation/created.payload.json", delivery_id="i-4", action="deleted")
    with transaction() as conn:
        assert store.get_installation(conn, 957387).deleted_at is not None
        assert not store.get_repository_by_name(conn, "Codertocat/Hello-World").active


def test_repositories_added_and_removed(world):
    payload_repos = {"id": 555, "full_name": "Codertocat/other", "private": True, "name": "other"}
    from codeloop.services.intake.installations import apply_installation_event

    # installation_repositories carries the installation and repositories_added / _removed

    payload = load("installation/created.payload.json") | {"repositories_added": [payload_repos]}
    with transaction() as conn:
        apply_installation_event(conn, "installation_repositories", "added", payload)
        assert store.get_repository(conn, 555).private is True
        apply_installation_event(
            conn,
            "installation_repositories",
            "removed",
            payload | {"repositories_added": [], "repositories_removed": [payload_repos]},
        )
        assert store.get_repository(conn, 555).active is False


def test_a_fix_replayed_under_a_new_delivery_id_starts_nothing(world, aws, monkeypatch):
    """X-GitHub-Delivery is not signed: the same signed body under a new id is a duplicate."""
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", SECRET)
    reset_settings()
    payload = payload_for(
        world, "issue_comment/created.payload.json", **comment_changes(world, "/codeloop fix")
    )
    body = json.dumps(payload).encode()

    def post(delivery_id: str) -> tuple[int, dict]:
        headers = signed_headers(body, "issue_comment", delivery_id)
        event = {"version": "2.0", "rawPath": "/webhooks/github", "headers": headers, "body": body.decode(),
                 "requestContext": {"http": {"method": "POST", "path": "/webhooks/github"}}}  # fmt: skip
        answer = handle(event, None)
        return answer["statusCode"], json.loads(answer["body"])

    assert post("d-original") == (202, {"status": "queued", "delivery_id": "d-original"})
    assert post("d-replayed") == (200, {"status": "duplicate", "delivery_id": "d-replayed"})
    messages = receive_all(aws["EVENTS_QUEUE_URL"])
    assert [message["body"]["delivery_id"] for message in messages] == ["d-original"]
    with transaction() as conn:
        assert store.get_delivery(conn, "d-replayed") is None
    for message in messages:
        process_delivery(message["body"]["delivery_id"])
    assert len(tasks_in(world)) == 1


# -- strangers and rate limits ----------------------------------------------------------------------

TEN_COMMANDS = "\n".join(
    ["/codeloop help", "/codeloop status", "/codeloop config"] + [f"/codeloop word{n}" for n in range(7)]
)


def test_a_strangers_ten_commands_get_one_reply_and_three_calls(world):
    outcomes = comment(world, TEN_COMMANDS, login="passer-by")
    assert outcomes == ["help"] + ["status: quiet", "config: quiet"] + ["unknown: quiet"] * 7
    [reply] = replies(world)
    assert reply.startswith("Here is what I can do")
    base = f"/repos/{REPO}"
    assert calls(world) == [
        ("GET", f"{base}/collaborators/passer-by/permission"),
        ("POST", f"{base}/issues/comments/{world['comment_id']}/reactions"),
        ("POST", f"{base}/issues/1/comments"),
    ]


def test_an_edit_adding_commands_gets_a_stranger_nothing_more(world):
    comment(world, "/codeloop status", login="reader")
    assert len(replies(world)) == 1
    outcomes = deliver(
        world,
        "issue_comment/edited.payload.json",
        delivery_id="d-edit",
        changes={"body": {"from": "/codeloop status"}},
        comment__body="/codeloop status\n/codeloop help\n/codeloop config\n/codeloop fix",
        comment__id=world["comment_id"],
        sender={"login": "reader", "type": "User", "id": 1},
    )
    assert outcomes == ["help: quiet", "config: quiet", "refused"]
    assert len(replies(world)) == 1 and tasks_in(world) == []
    base = f"/repos/{REPO}"
    assert calls(world) == [
        ("GET", f"{base}/collaborators/reader/permission"),
        ("GET", f"{base}/contents/.github/codeloop.yml"),  # the fix's threshold, before refusing it
    ]


def test_a_stranger_gets_no_answer_to_unknown_commands(world):
    assert comment(world, "/codeloop frobnicate\n/codeloop hello", login="passer-by") == ["unknown: quiet"] * 2
    assert replies(world) == []
    assert calls(world) == [("GET", f"/repos/{REPO}/collaborators/passer-by/permission")]


def test_a_user_over_the_reply_limit_is_told_once_when_to_try_again(world, monkeypatch):
    monkeypatch.setenv("REPLIES_PER_USER", "2")
    reset_settings()
    outcomes = [
        comment(world, "/codeloop help\n/codeloop status", delivery_id="d-1"),
        comment(world, "/codeloop help", delivery_id="d-2"),
        comment(world, "/codeloop status", delivery_id="d-3"),
    ]
    assert outcomes == [["help", "status"], ["help: quiet"], ["status: quiet"]]
    first, second, note = replies(world)
    assert first.startswith("Here is what I can do") and second.startswith("No codeloop task here yet")
    assert note.startswith("Sorry @maintainer, I have had more commands to answer from you than I can")
    assert re.search(r"You can try again after \d\d:\d\d UTC \(in about 60 minutes\)\.$", note)


def test_work_over_the_limits_is_refused_with_one_note(world, monkeypatch):
    monkeypatch.setenv("WORK_COMMANDS_PER_INSTALLATION", "2")
    monkeypatch.setenv("WORK_COMMANDS_PER_USER", "1")
    reset_settings()
    world["repo"].set_permission("other-maintainer", "maintain")
    world["repo"].set_permission("third-maintainer", "admin")
    assert comment(world, "/codeloop fix", delivery_id="d-1")[0].startswith("started ")
    assert comment(world, "/codeloop fix", delivery_id="d-2") == ["limited"]  # the user's limit
    assert comment(world, "/codeloop retry", delivery_id="d-3") == ["limited"]
    assert comment(world, "/codeloop cancel", delivery_id="d-4")[0].startswith("cancel ")  # never limited
    assert comment(world, "/codeloop retry", login="other-maintainer", delivery_id="d-5")[0].startswith("retry ")
    assert comment(world, "/codeloop fix", login="third-maintainer", delivery_id="d-6") == ["limited"]
    notes = [reply for reply in replies(world) if reply.startswith("Sorry")]
    assert [note.split(" than ")[0] for note in notes] == [
        "Sorry @maintainer, I have had more commands that start work from you",
        "Sorry @third-maintainer, I have had more commands that start work on this installation",
    ]
    [task] = tasks_in(world)
    assert (task.status, task.attempt) == ("queued", 2)
