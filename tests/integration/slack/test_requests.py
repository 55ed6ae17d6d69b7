"""Slack commands acted on from the events queue, through the real front, PostgreSQL, the emulated
queues, the GitHub fake and the Slack fake: the installation a Slack delivery belongs to, and the
one answer for whoever may not work on a repository."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from codeloop.api.front import handle
from codeloop.db import identities_store, store
from codeloop.db.pool import transaction
from codeloop.domain.commands import no_access_text
from codeloop.domain.models import IdentityProvider, Installation, NewTask, RepositoryRef
from codeloop.domain.slack import mrkdwn
from codeloop.local.http import to_event
from codeloop.services.intake.events import process_delivery
from codeloop.settings import get_settings, reset_settings
from tests.conftest import receive_all
from tests.fakes.github import GitHubFake
from tests.fakes.slack_api import SIGNING_SECRET, FakeSlack, command_body, signed_headers
from tests.integration.api.test_api_key_scopes import create_key, request

WIDGETS, GONE, RIVAL = "acme/widgets", "acme/gone", "rival/secret"
ACME, RIVALS = 8, 9
WRITER, READER, OUTSIDER = "U0WRITER", "U0READER", "U0OUTSIDE"


@pytest.fixture
def slack(db_url, aws, github_fake: GitHubFake, monkeypatch) -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
        monkeypatch.setenv("SLACK_API_URL", fake.api_url)
        reset_settings()
        widgets = github_fake.add_repo(WIDGETS, installation_id=ACME)
        while widgets.add_issue("Add a --json flag") < 7:
            pass
        widgets.set_permission("maintainer", "write")
        widgets.set_permission("reader", "read")
        gone = github_fake.add_repo(GONE, installation_id=ACME)
        gone.add_issue()
        with transaction() as conn:
            store.upsert_installation(conn, Installation(id=ACME, account_login="acme"))
            store.upsert_installation(conn, Installation(id=RIVALS, account_login="rival"))
            for repo in (widgets, gone):
                store.upsert_repository(conn, RepositoryRef(id=repo.id, full_name=repo.full_name), ACME)
            store.deactivate_repository(conn, gone.id)  # codeloop was uninstalled from it
            store.upsert_repository(conn, RepositoryRef(id=4343, full_name=RIVAL), RIVALS)
            for user, login in ((WRITER, "maintainer"), (READER, "reader"), (OUTSIDER, "outsider")):
                identities_store.link(conn, IdentityProvider.SLACK, user, login)
        yield fake


def ask(slack: FakeSlack, text: str, user: str, response: str) -> tuple[str, list[str]]:
    """The slash command through the front, then acted on as the status syncer does: its delivery
    id and what was done."""
    body = command_body(text, user_id=user, response_url=slack.response_url(response))
    result = handle(to_event("POST", "/webhooks/slack/commands", signed_headers(body), body), None)
    assert result["statusCode"] == 200
    [queued] = receive_all(str(get_settings().require("events_queue_url")))
    delivery_id = queued["body"]["delivery_id"]
    return delivery_id, process_delivery(delivery_id)


def listed(key: str) -> dict[str, str | None]:
    answer = request("GET", "/api/v1/deliveries", key, query="source=slack")
    assert answer["status"] == 200, answer
    return {delivery["id"]: delivery["repository"] for delivery in answer["body"]["deliveries"]}


def test_a_slack_delivery_is_listed_for_keys_scoped_to_its_repository_or_installation(slack, capsys):
    keys = {
        "installation": create_key(capsys, "acme", "--installation", str(ACME)),
        "repository": create_key(capsys, "widgets", "--repository", WIDGETS),
        "rival": create_key(capsys, "rival", "--installation", str(RIVALS)),
    }
    with transaction() as conn:
        repository = store.get_repository_by_name(conn, WIDGETS)
        task = store.create_task(
            conn, NewTask(repository_id=repository.id, title="Add a --json flag", type="issue_to_pr", issue_number=7)
        )
    on_thread, _ = ask(slack, f"status {WIDGETS}#7", WRITER, "thread")
    by_task_id, outcomes = ask(slack, f"status {task.id}", WRITER, "task")  # a button's click names a task only
    assert outcomes == ["status"] and f"Task `{task.id}`" in slack.texts("task")[0]

    assert listed(keys["installation"]) == {on_thread: WIDGETS, by_task_id: WIDGETS}
    assert listed(keys["repository"]) == {on_thread: WIDGETS, by_task_id: WIDGETS}
    assert listed(keys["rival"]) == {}
    answer = request("GET", f"/api/v1/deliveries/{by_task_id}", keys["installation"])
    assert answer["status"] == 200 and answer["body"]["delivery"]["installation_id"] == ACME
    assert request("GET", f"/api/v1/deliveries/{by_task_id}", keys["rival"])["status"] == 404


def test_without_access_a_repository_with_codeloop_reads_as_one_without(slack):
    """Word for word the same answer (but for the repository's name, as written) whether the
    repository has codeloop and the linked login may not see it (or may not start work there),
    had codeloop uninstalled, or is unknown to codeloop; asking about an issue that does not exist
    tells nothing more."""
    asked = [
        (OUTSIDER, f"fix {WIDGETS}#7 the secret plan", WIDGETS, ["refused: cannot see the repository"]),
        (OUTSIDER, f"fix {WIDGETS}#999", WIDGETS, ["refused: cannot see the repository"]),
        (OUTSIDER, f"status {WIDGETS}#7", WIDGETS, ["refused: cannot see the repository"]),
        (READER, f"fix {WIDGETS}#7", WIDGETS, ["refused"]),
        (OUTSIDER, f"fix {GONE}#1", GONE, ["refused: not installed"]),
        (OUTSIDER, "fix acme/unknown#7", "acme/unknown", ["refused: not installed"]),
        (OUTSIDER, "status acme/unknown#7", "acme/unknown", ["refused: not installed"]),
    ]
    replies = set()
    for number, (user, text, repository, outcomes) in enumerate(asked):
        _, done = ask(slack, text, user, f"r{number}")
        assert done == outcomes, text
        [reply] = slack.texts(f"r{number}")
        login = "reader" if user == READER else "outsider"
        replies.add(reply.replace(repository, "owner/repo").replace(login, "someone"))
    assert replies == {mrkdwn(no_access_text("someone", "owner/repo"))}
    with transaction() as conn:
        assert store.list_tasks(conn) == []


def test_a_key_gets_a_slack_delivery_without_what_would_let_it_post_in_slack_as_codeloop(slack, capsys):
    """A command's response_url lets whoever holds it post in the asker's channel, as codeloop, for
    30 minutes: the worker needs it, a key holder must not get it (nor the trigger_id)."""
    key = create_key(capsys, "acme", "--installation", str(ACME))
    delivery_id, _ = ask(slack, f"status {WIDGETS}#7", WRITER, "secret-hook")
    answer = request("GET", f"/api/v1/deliveries/{delivery_id}", key)
    assert answer["status"] == 200
    shown = answer["body"]["delivery"]["payload"]
    assert shown["text"] == f"status {WIDGETS}#7" and shown["user_id"] == WRITER
    assert "response_url" not in shown and "trigger_id" not in shown
    assert "secret-hook" not in str(answer["body"])
    with transaction() as conn:
        trigger = conn.execute(
            "select payload->>'trigger_id' as trigger from webhook_deliveries where delivery_id = %s", (delivery_id,)
        ).fetchone()["trigger"]
    assert trigger and trigger not in str(answer["body"])  # nor in the delivery's id


def test_a_request_from_who_cannot_see_the_repository_stays_out_of_its_installations_log(slack, capsys):
    """The repository of a Slack command is whatever its asker typed: one who cannot see it must not
    put their words (and their channel's name) in the delivery log of the installation it names."""
    key = create_key(capsys, "acme", "--installation", str(ACME))
    refused, outcomes = ask(slack, f"status {WIDGETS}#7", OUTSIDER, "outside")
    assert outcomes == ["refused: cannot see the repository"]
    seen, _ = ask(slack, f"status {WIDGETS}#7", WRITER, "inside")
    assert listed(key) == {seen: WIDGETS}
    assert request("GET", f"/api/v1/deliveries/{refused}", key)["status"] == 404
