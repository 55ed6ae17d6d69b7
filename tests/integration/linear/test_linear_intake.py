"""Requests from Linear against real PostgreSQL, the emulated queues, the GitHub fake and the Linear fake."""

from __future__ import annotations

import psycopg
import pytest

from codeloop.adapters import linear
from codeloop.cli import main as cli
from codeloop.db import identities_store, linear_store, store
from codeloop.db.pool import transaction
from codeloop.domain.commands import no_access_text
from codeloop.domain.models import IdentityProvider, Installation, RepositoryRef
from codeloop.services.intake.events import process_delivery
from codeloop.settings import reset_settings
from tests.conftest import receive_all
from tests.fakes.linear_api import linear_fake_environment
from tests.fakes.linear_webhooks import delivery, post
from tests.integration.api.test_api_key_scopes import create_key, request

REPO = "acme/widgets"
INSTALLATION = 4242
WRITER, READER = "maya-writes", "rick-reads"


@pytest.fixture
def world(db_url, waiting_workflow, github_fake, monkeypatch):
    repo = github_fake.add_repo(
        REPO,
        files={".github/codeloop.yml": "validation:\n  test: [pytest -q]\n"},
        installation_id=INSTALLATION,
    )
    repo.set_permission(WRITER, "write")
    repo.set_permission(READER, "read")
    with transaction() as conn:
        store.upsert_installation(conn, Installation(id=INSTALLATION, account_login="acme"))
        store.upsert_repository(
            conn, RepositoryRef(id=repo.id, full_name=REPO, default_branch="main"), INSTALLATION
        )
        linear_store.map_team(conn, "ENG", REPO, done_state=None)
    with linear_fake_environment(monkeypatch) as fake:
        fake.add_issue(delivery("issue_labelled")["data"])
        yield fake


def link(user_id: str, login: str) -> None:
    with transaction() as conn:
        identities_store.link(conn, IdentityProvider.LINEAR, user_id, login)


def deliveries(db_url: str) -> list[tuple]:
    with psycopg.connect(db_url) as conn:
        return conn.execute("select source, event, action, status from webhook_deliveries").fetchall()


def tasks(db_url: str) -> list[tuple]:
    with psycopg.connect(db_url) as conn:
        return conn.execute("select type, source, requested_by, request_key from tasks").fetchall()


def test_a_bad_signature_is_401_and_nothing_is_stored_or_queued(world, db_url, aws):
    payload = delivery("issue_labelled")
    answer = post(payload, signature="0" * 64)
    assert answer == {
        "status": 401,
        "body": {"error": "the Linear-Signature header is missing or does not match"},
    }
    assert post(payload, secret="another secret")["status"] == 401
    assert post(payload, signature="")["status"] == 401
    assert deliveries(db_url) == [] and receive_all(aws["EVENTS_QUEUE_URL"]) == []


def test_a_delivery_signed_with_the_stack_s_placeholder_secret_is_refused(world, db_url, aws, monkeypatch):
    """template.yaml creates the signing secret as public placeholder text: until the operator
    replaces it, codeloop takes nothing from Linear, whoever signs with that text."""
    placeholder = "REPLACE_WITH_THE_LINEAR_WEBHOOK_SIGNING_SECRET"
    monkeypatch.setenv("LINEAR_WEBHOOK_SECRET", placeholder)
    reset_settings()
    answer = post(delivery("issue_labelled"), secret=placeholder)
    assert answer["status"] == 503 and "LINEAR_WEBHOOK_SECRET" in answer["body"]["error"]
    assert deliveries(db_url) == [] and receive_all(aws["EVENTS_QUEUE_URL"]) == []


def test_a_stale_delivery_is_refused_clearly_and_nothing_is_stored(world, db_url, aws):
    payload = delivery("issue_labelled")
    payload["webhookTimestamp"] -= 5 * 60 * 1000  # captured five minutes ago, replayed now
    answer = post(payload)
    assert answer["status"] == 400
    assert answer["body"]["error"].startswith("stale delivery: its webhookTimestamp is 300 s in the past")
    assert deliveries(db_url) == [] and receive_all(aws["EVENTS_QUEUE_URL"]) == []


@pytest.mark.parametrize(
    ("value", "named"), [("\ud800", "lone surrogate"), (float("nan"), "NaN"), (float("inf"), "Infinity")]
)
def test_json_postgresql_cannot_store_is_400_and_nothing_is_stored(world, db_url, aws, value, named):
    """GitHub's and Linear's deliveries go through one parser: what jsonb refuses is a 400, not a 500."""
    answer = post(delivery("issue_labelled", odd=value))
    assert answer["status"] == 400 and named in answer["body"]["error"]
    assert deliveries(db_url) == [] and receive_all(aws["EVENTS_QUEUE_URL"]) == []


def test_a_delivery_is_stored_as_linear_queued_in_its_issue_group_and_deduplicated(world, db_url, aws):
    payload = delivery("issue_labelled")
    answer = post(payload)
    assert answer["status"] == 202 and answer["body"]["status"] == "queued"
    assert post(payload) == {
        "status": 200,
        "body": {"status": "duplicate", "delivery_id": answer["body"]["delivery_id"]},
    }
    assert deliveries(db_url) == [("linear", "Issue", "update", "queued")]
    [message] = receive_all(aws["EVENTS_QUEUE_URL"])
    assert message["body"]["delivery_id"] == answer["body"]["delivery_id"]
    assert message["attributes"]["MessageGroupId"] == f"linear:{payload['data']['id']}"
    # another resource type is stored as ignored, and not queued
    other = post(delivery("issue_labelled", type="Project", action="update"))
    assert other["body"]["status"] == "ignored" and receive_all(aws["EVENTS_QUEUE_URL"]) == []


def test_an_unlinked_user_gets_a_polite_linear_comment_and_no_task(world, db_url, github_fake):
    delivery_id = post(delivery("issue_labelled"))["body"]["delivery_id"]
    assert process_delivery(delivery_id) == ["unlinked user"]
    [comment] = world.comments_on(delivery("issue_labelled")["data"]["id"])
    actor = delivery("issue_labelled")["actor"]["id"]
    assert comment["body"].startswith("Hi Maya Writer, I don't know your GitHub account yet")
    assert f"codeloop link linear {actor} <your-github-login>" in comment["body"]
    assert tasks(db_url) == [] and github_fake.calls_to("POST") == []
    assert world.operations() == ["issue", "commentCreate"]


def test_a_reader_is_told_how_to_get_access_and_nothing_runs(world, db_url):
    link(delivery("issue_labelled")["actor"]["id"], READER)
    delivery_id = post(delivery("issue_labelled"))["body"]["delivery_id"]
    assert process_delivery(delivery_id) == ["refused"]
    [comment] = world.comments_on(delivery("issue_labelled")["data"]["id"])
    assert comment["body"] == no_access_text(READER, REPO)
    assert "write access" in comment["body"] and "A maintainer of the repository" in comment["body"]
    assert tasks(db_url) == []


def test_without_access_a_repository_with_codeloop_reads_as_one_without(world, db_url, github_fake):
    """The refusal is word for word the same (but for the repository's name) whether the mapped
    repository has codeloop installed and the linked login may not work there, had codeloop
    uninstalled, or is unknown to codeloop."""
    link(delivery("issue_labelled")["actor"]["id"], "nobody-here")  # no role on any repository
    uninstalled = github_fake.add_repo("acme/gone", installation_id=INSTALLATION)
    with transaction() as conn:
        store.upsert_repository(conn, RepositoryRef(id=uninstalled.id, full_name="acme/gone"), INSTALLATION)
        store.deactivate_repository(conn, uninstalled.id)
    outcomes = []
    for minute, repository in enumerate((REPO, "acme/gone", "acme/unknown")):
        with transaction() as conn:
            linear_store.map_team(conn, "ENG", repository, done_state=None)
        labelled = delivery("issue_labelled", createdAt=f"2026-12-07T02:1{minute}:00.000Z")
        outcomes += process_delivery(post(labelled)["body"]["delivery_id"])
    assert outcomes == ["refused", "not installed", "not installed"]
    replies = [c["body"] for c in world.comments_on(delivery("issue_labelled")["data"]["id"])]
    names = (REPO, "acme/gone", "acme/unknown")
    assert len({reply.replace(name, "owner/repo") for reply, name in zip(replies, names, strict=True)}) == 1
    assert replies[0] == no_access_text("nobody-here", REPO) and tasks(db_url) == []


def test_a_linear_delivery_is_listed_for_keys_scoped_to_its_mapped_repository(world, aws, capsys):
    with transaction() as conn:
        store.upsert_installation(conn, Installation(id=99, account_login="rival"))
    keys = {
        "ours": create_key(capsys, "acme", "--installation", str(INSTALLATION)),
        "repository": create_key(capsys, "widgets", "--repository", REPO),
        "theirs": create_key(capsys, "rival", "--installation", "99"),
    }

    def listed(key: str) -> list[tuple[str, str | None]]:
        answer = request("GET", "/api/v1/deliveries", key, query="source=linear")
        return [(found["id"], found["repository"]) for found in answer["body"]["deliveries"]]

    delivery_id = post(delivery("issue_labelled"))["body"]["delivery_id"]
    assert listed(keys["ours"]) == []  # as it arrived: Linear names no GitHub installation
    assert process_delivery(delivery_id) == ["unlinked user"]
    assert listed(keys["ours"]) == listed(keys["repository"]) == [(delivery_id, REPO)]
    assert listed(keys["theirs"]) == []


def test_an_unmapped_team_is_told_how_to_connect_it(world, db_url):
    with transaction() as conn:
        linear_store.unmap_team(conn, "ENG")
    link(delivery("issue_labelled")["actor"]["id"], WRITER)
    assert process_delivery(post(delivery("issue_labelled"))["body"]["delivery_id"]) == ["unmapped team"]
    [comment] = world.comments_on(delivery("issue_labelled")["data"]["id"])
    assert "codeloop linear map ENG owner/repo" in comment["body"] and tasks(db_url) == []


def test_a_linked_writer_starts_an_issue_to_pr_task_with_the_linear_issue(world, db_url):
    link(delivery("comment_created")["actor"]["id"], WRITER)
    delivery_id = post(delivery("comment_created"))["body"]["delivery_id"]
    [outcome] = process_delivery(delivery_id)
    assert outcome.startswith("started ")
    assert tasks(db_url) == [("issue_to_pr", "comment", WRITER, f"linear:{delivery_id}:0")]
    with transaction() as conn:
        [task] = store.list_tasks(conn)
        linked = linear_store.issue_task(conn, task.id)
    assert task.description == "keep the signature of add()"
    assert task.metadata["linear"]["identifier"] == "ENG-123"
    assert (
        "Acceptance criteria:\n- `add(1, 2) == 3`\n- the existing tests pass" in task.metadata["subject_body"]
    )
    assert (linked.identifier, linked.comment_id is not None) == ("ENG-123", True)
    # the one comment says it started; a redelivery starts nothing more
    assert world.operations() == ["issue", "commentCreate"]
    assert process_delivery(delivery_id) == ["already processed"]


@pytest.mark.parametrize(("mapped", "expected"), [(None, "Ready to ship"), ("In Review", "In Review")])
def test_the_repository_names_the_done_state_only_when_the_team_mapping_does_not(
    world, github_fake, mapped, expected
):
    github_fake.repos[REPO].commit_files(
        "main",
        {".github/codeloop.yml": "validation:\n  test: [pytest -q]\nlinear:\n  done_state: Ready to ship\n"},
    )
    with transaction() as conn:
        linear_store.map_team(conn, "ENG", REPO, done_state=mapped)
    link(delivery("comment_created")["actor"]["id"], WRITER)
    [outcome] = process_delivery(post(delivery("comment_created"))["body"]["delivery_id"])
    assert outcome.startswith("started ")
    with transaction() as conn:
        [task] = store.list_tasks(conn)
        assert linear_store.issue_task(conn, task.id).done_state == expected


def test_a_project_mapping_wins_over_the_team_one(world, db_url):
    with transaction() as conn:
        linear_store.map_team(conn, "eng", "acme/other", project="Mobile", done_state="Done")
        assert linear_store.mapping_for(conn, "ENG", "p-1", "mobile").repository_full_name == "acme/other"
        assert linear_store.mapping_for(conn, "ENG", "p-2", "Web").repository_full_name == REPO
        assert linear_store.mapping_for(conn, "OPS", None, None) is None


def test_the_client_waits_out_a_short_rate_limit_and_fails_clearly_on_a_long_one(world):
    issue_id = delivery("issue_labelled")["data"]["id"]
    world.fail_next(1, "status", status=429, retry_after="0")
    assert linear.get_issue(issue_id).identifier == "ENG-123"
    world.fail_next(
        1, "status", status=400, body={"errors": [{"message": "Rate limit exceeded", "extensions": {"code": "RATELIMITED"}}]},
        retry_after="120",
    )  # fmt: skip
    with pytest.raises(linear.LinearRateLimited, match="takes calls again in 120 s"):
        linear.get_issue(issue_id)


def test_the_operator_maps_lists_and_unmaps_a_team(db_url, capsys):
    assert cli(["linear", "map", "eng", "acme/widgets", "--done-state", "In Review"]) == 0
    assert cli(["linear", "map", "ENG", "acme/mobile", "--project", "Mobile"]) == 0
    assert cli(["linear", "list"]) == 0
    listed = capsys.readouterr().out.splitlines()[-2:]
    assert [line.split()[:3] for line in listed] == [
        ["ENG", "(whole", "team)"],
        ["ENG", "Mobile", "acme/mobile"],
    ]
    assert "In Review" in listed[0]
    assert cli(["linear", "unmap", "ENG", "--project", "Mobile"]) == 0
    assert cli(["linear", "unmap", "ENG", "--project", "Mobile"]) == 1


def test_the_github_work_limits_apply_to_the_linked_login(world, db_url, monkeypatch):
    monkeypatch.setenv("WORK_COMMANDS_PER_USER", "1")
    reset_settings()
    link(delivery("comment_created")["actor"]["id"], WRITER)
    first, second = (delivery("comment_created"), delivery("comment_created"))
    second["data"] = second["data"] | {"id": "c-2", "body": "/codeloop fix again, differently"}
    assert process_delivery(post(first)["body"]["delivery_id"])[0].startswith("started ")
    assert process_delivery(post(second)["body"]["delivery_id"]) == ["limited"]
    notes = [c["body"] for c in world.comments_on(first["data"]["issueId"]) if c["body"].startswith("Sorry")]
    assert len(notes) == 1 and f"@{WRITER}, I have had more commands that start work from you" in notes[0]
    assert len(tasks(db_url)) == 1


def test_by_email_only_when_allowed_and_only_to_the_account_github_verified(
    world, db_url, github_fake, monkeypatch
):
    repo = github_fake.repos[REPO]
    email = delivery("issue_labelled")["actor"]["email"]
    repo.commit_files("main", {"NOTES.md": "hi\n"}, author_email=email)
    repo.commit_files("main", {"NOTES.md": "spoof\n"}, author_email="someone@else.example")
    repo.verified_emails[email] = WRITER

    # Not allowed by the operator: still unlinked, whatever GitHub knows.
    assert process_delivery(post(delivery("issue_labelled"))["body"]["delivery_id"]) == ["unlinked user"]

    monkeypatch.setenv("LINEAR_LINK_BY_EMAIL", "true")
    reset_settings()
    stranger = delivery(
        "issue_labelled",
        actor=delivery("issue_labelled")["actor"] | {"id": "u-2", "email": "someone@else.example"},
    )
    assert process_delivery(post(stranger)["body"]["delivery_id"]) == ["unlinked user"]  # no verified account
    [outcome] = process_delivery(
        post(delivery("issue_labelled", createdAt="2026-12-07T02:11:00.000Z"))["body"]["delivery_id"]
    )
    assert outcome.startswith("started ")
    with transaction() as conn:
        linked = identities_store.get(
            conn, IdentityProvider.LINEAR, delivery("issue_labelled")["actor"]["id"]
        )
        assert identities_store.get(conn, IdentityProvider.LINEAR, "u-2") is None
    assert (linked.github_login, linked.linked_by) == (WRITER, "email")
    assert tasks(db_url)[0][2] == WRITER


def test_once_the_team_is_mapped_elsewhere_its_writers_cannot_touch_the_old_repositorys_task(
    world, db_url, github_fake
):
    """The issue's task stays the repository's it was made in: a writer of the repository the team
    is mapped to now was never asked about that one, so may not cancel or retry its task."""
    first = delivery("comment_created")
    link(first["actor"]["id"], WRITER)
    assert process_delivery(post(first)["body"]["delivery_id"])[0].startswith("started ")
    elsewhere = github_fake.add_repo(
        "rival/elsewhere", files={".github/codeloop.yml": "validation:\n  test: [pytest -q]\n"}, installation_id=777
    )
    elsewhere.set_permission("eve", "write")
    with transaction() as conn:
        store.upsert_installation(conn, Installation(id=777, account_login="rival"))
        store.upsert_repository(
            conn, RepositoryRef(id=elsewhere.id, full_name="rival/elsewhere", default_branch="main"), 777
        )
        linear_store.map_team(conn, "ENG", "rival/elsewhere", done_state=None)
    link("eve-in-linear", "eve")
    for command in ("cancel", "retry"):
        asked = delivery("comment_created", actor=first["actor"] | {"id": "eve-in-linear", "name": "Eve"})
        asked["data"] = asked["data"] | {"id": f"c-{command}", "body": f"/codeloop {command}"}
        assert process_delivery(post(asked)["body"]["delivery_id"]) == [f"{command}: no task"]
    with transaction() as conn:
        [task] = store.list_tasks(conn)
    assert (task.status, task.attempt) == ("queued", 1)
