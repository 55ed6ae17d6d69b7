"""Slack end to end: the `/codeloop` slash command and the message's buttons, through the real front,
PostgreSQL, the queues, the state machine and the handlers, with fakes of Slack, GitHub and Codegen."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from codeloop.adapters.slack import web_client
from codeloop.api.front import handle
from codeloop.db import identities_store
from codeloop.db.pool import transaction
from codeloop.domain.commands import no_access_text
from codeloop.domain.models import IdentityProvider
from codeloop.domain.slack import mrkdwn
from codeloop.local.http import to_event
from codeloop.settings import reset_settings
from tests.conftest import receive_all
from tests.e2e.conftest import CALC_BROKEN, CALC_FIXED, TESTS, Loop, add_repository, config
from tests.fakes.slack_api import FakeSlack, button_body, command_body, signed_headers

WIDGETS = "acme/widgets"
ACME = 8
WRITER, READER, STRANGER, OUTSIDER = "U0WRITER", "U0READER", "U0NOBODY", "U0OUTSIDE"


def widgets_files(calc: str, iterations: int = 2) -> dict[str, str]:
    return {
        ".github/codeloop.yml": config(iterations) + 'notify: {slack: {channel: "#dev"}}\n',
        "calc.py": calc,
        "tests/test_calc.py": TESTS,
    }


class SlackLoop(Loop):
    """The loop on acme/widgets, and Slack's side: people who type commands and click buttons."""

    slack: FakeSlack

    def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> dict[str, Any]:
        result = handle(to_event("POST", path, headers or signed_headers(body), body), None)
        return {"status": result["statusCode"], "body": json.loads(result["body"] or "null")}

    def command(self, text: str, user: str = WRITER, response: str = "r1") -> dict[str, Any]:
        body = command_body(text, user_id=user, response_url=self.slack.response_url(response))
        return self.post("/webhooks/slack/commands", body)

    def click(self, action: str, task_id: str, user: str, response: str) -> dict[str, Any]:
        body = button_body(action, task_id, user_id=user, response_url=self.slack.response_url(response))
        return self.post("/webhooks/slack/interactions", body)

    def message(self) -> dict[str, Any]:
        [message] = self.slack.messages.values()
        return message

    def message_text(self) -> str:
        return json.dumps(self.message()["blocks"], ensure_ascii=False)

    def buttons(self) -> list[str]:
        return [
            element["action_id"]
            for block in self.message()["blocks"]
            if block["type"] == "actions"
            for element in block["elements"]
        ]


@pytest.fixture
def slack_loop(loop: Loop, monkeypatch: pytest.MonkeyPatch) -> Iterator[SlackLoop]:
    with FakeSlack() as slack:
        monkeypatch.setenv("SLACK_SIGNING_SECRET", "slack-test-signing-secret")
        monkeypatch.setenv("SLACK_BOT_TOKEN", slack.token)
        monkeypatch.setenv("SLACK_API_URL", slack.api_url)
        reset_settings()
        add_repository(loop.github, loop.codegen, WIDGETS, ACME, widgets_files(CALC_BROKEN))
        widgets = loop.github.repos[WIDGETS]
        while widgets.add_issue("Add a --json flag to `widgets list`", "Scripts want JSON.") < 7:
            pass
        widgets.set_permission("reader", "read")
        with transaction() as conn:
            identities_store.link(conn, IdentityProvider.SLACK, WRITER, "maintainer")
            identities_store.link(conn, IdentityProvider.SLACK, READER, "reader")
            identities_store.link(conn, IdentityProvider.SLACK, OUTSIDER, "outsider")  # no role on the private repo
        driver = SlackLoop(loop.github, loop.codegen, loop.env, repo=WIDGETS)
        driver.slack = slack
        yield driver
        assert slack.violations == []  # every Web API call had its method and required parameters


def test_a_fix_from_slack_ends_in_one_message_updated_to_green(slack_loop: SlackLoop):
    loop = slack_loop
    ack = loop.command("fix acme/widgets#7 add a --json flag")
    assert ack["status"] == 200 and ack["body"]["response_type"] == "ephemeral"
    assert "On it" in ack["body"]["text"]
    loop.pump(until=lambda: loop.latest_run() is not None)

    task = loop.task()
    assert (task.source, task.requested_by, task.issue_number, task.type) == ("slack", "maintainer", 7, "issue_to_pr")
    assert "add a --json flag" in loop.latest_run()["prompt"]
    assert any("Started task" in text for text in loop.slack.texts("r1"))
    assert "⏳" in loop.message_text() or "💤" in loop.message_text()
    assert loop.buttons() == ["codeloop:cancel"]

    loop.agent_opens_pull_request(loop.latest_run()["id"], widgets_files(CALC_FIXED))
    loop.pump(until=lambda: loop.task_status() == "completed" and "✅" in loop.message_text())

    assert len(loop.slack.api_calls("chat.postMessage")) == 1  # ONE message…
    assert len(loop.slack.api_calls("chat.update")) >= 1  # …updated in place
    posted = loop.slack.api_calls("chat.postMessage")[0].body
    assert posted["channel"] == "#dev"
    text = loop.message_text()
    assert "Passed" in text and "acme/widgets#7" in text and "Add a --json flag" in text
    assert "|check run>" in text and "|PR #" in text  # links to the PR and its check run
    assert loop.buttons() == []
    # The GitHub side is as for a comment: one status comment on the issue, a green check run.
    [comment] = loop.bot_comments()
    assert "✅" in comment["body"] and "in Slack" in comment["body"]


def fail_a_task(loop: SlackLoop) -> str:
    """A task from Slack whose only attempt fails (iterations 0): its message offers Retry."""
    loop.github.publish(WIDGETS, "main", widgets_files(CALC_BROKEN, iterations=0))
    loop.command("fix acme/widgets#7")
    loop.pump(until=lambda: loop.latest_run() is not None)
    loop.agent_opens_pull_request(loop.latest_run()["id"], widgets_files(CALC_BROKEN, iterations=0))
    loop.pump(until=lambda: loop.task_status() == "failed" and "codeloop:retry" in loop.buttons())
    return str(loop.task().id)


def test_the_retry_button_is_refused_for_a_reader_and_works_for_a_writer(slack_loop: SlackLoop):
    loop = slack_loop
    task_id = fail_a_task(loop)
    runs = len(loop.codegen.runs)

    assert loop.click("codeloop:retry", task_id, READER, "reader")["status"] == 200
    loop.pump(until=lambda: bool(loop.slack.responses.get("reader")))
    [refusal] = loop.slack.texts("reader")
    assert "Sorry" in refusal and "write" in refusal
    assert (loop.task().status, loop.task().attempt) == ("failed", 1)

    assert loop.click("codeloop:retry", task_id, WRITER, "writer")["status"] == 200
    loop.pump(until=lambda: loop.task().attempt == 2 and "codeloop:cancel" in loop.buttons())
    assert any("Retrying task" in text for text in loop.slack.texts("writer"))
    loop.pump(until=lambda: len(loop.codegen.runs) > runs or loop.codegen.calls[-1].path.endswith("/resume"))
    assert len(loop.slack.api_calls("chat.postMessage")) == 1  # still the one message


def deliveries(db_url: str) -> list[tuple]:
    with psycopg.connect(db_url) as conn:
        return conn.execute("select delivery_id, source from webhook_deliveries").fetchall()


def test_a_bad_signature_gets_401_and_nothing_is_stored(slack_loop: SlackLoop, db_url: str):
    body = command_body("fix acme/widgets#7", user_id=WRITER, response_url=slack_loop.slack.response_url("x"))
    forged = signed_headers(body, secret="not-the-signing-secret")
    answer = slack_loop.post("/webhooks/slack/commands", body, forged)
    assert answer["status"] == 401 and "signature" in answer["body"]["error"]
    unsigned = {"content-type": "application/x-www-form-urlencoded"}
    assert slack_loop.post("/webhooks/slack/interactions", body, unsigned)["status"] == 401
    assert deliveries(db_url) == []
    assert receive_all(slack_loop.env["EVENTS_QUEUE_URL"]) == []


def test_a_stale_timestamp_is_refused_even_when_signed(slack_loop: SlackLoop, db_url: str):
    body = command_body("fix acme/widgets#7", user_id=WRITER, response_url=slack_loop.slack.response_url("x"))
    answer = slack_loop.post("/webhooks/slack/commands", body, signed_headers(body, timestamp=int(time.time()) - 301))
    assert answer["status"] == 401 and "five minutes" in answer["body"]["error"]
    assert deliveries(db_url) == []


def test_an_unlinked_user_is_told_how_to_get_linked_and_nothing_runs(slack_loop: SlackLoop, db_url: str):
    loop = slack_loop
    assert loop.command("fix acme/widgets#7", user=STRANGER, response="stranger")["status"] == 200
    loop.pump(until=lambda: bool(loop.slack.responses.get("stranger")))
    [answer] = loop.slack.texts("stranger")
    assert f"codeloop link slack {STRANGER}" in answer
    assert loop.task() is None
    assert [source for _, source in deliveries(db_url)] == ["slack"]


def test_the_same_request_twice_is_one_delivery(slack_loop: SlackLoop, db_url: str):
    body = command_body("status acme/widgets#7", user_id=WRITER, response_url=slack_loop.slack.response_url("s"))
    first = slack_loop.post("/webhooks/slack/commands", body)
    again = slack_loop.post("/webhooks/slack/commands", body)
    assert first["status"] == again["status"] == 200
    assert len(deliveries(db_url)) == 1


def test_help_is_answered_at_once_and_stores_nothing(slack_loop: SlackLoop, db_url: str):
    answer = slack_loop.command("help")
    assert answer["status"] == 200 and "/codeloop fix owner/repo#123" in answer["body"]["text"]
    assert deliveries(db_url) == []


def test_the_bot_token_reaches_slack_only_as_a_bearer_header(slack_loop: SlackLoop):
    web_client().auth_test()
    [call] = slack_loop.slack.api_calls("auth.test")
    assert call.headers["authorization"] == f"Bearer {slack_loop.slack.token}"


def test_status_answers_only_who_asked_and_a_task_id_names_its_task(slack_loop: SlackLoop):
    loop = slack_loop
    loop.command("status acme/widgets#7", response="before")
    loop.pump(until=lambda: bool(loop.slack.responses.get("before")))
    assert loop.slack.texts("before") == ["No codeloop task here yet. `/codeloop fix` starts one."]
    assert loop.slack.responses["before"][0]["response_type"] == "ephemeral"

    loop.command("fix acme/widgets#7")
    loop.pump(until=lambda: loop.latest_run() is not None)
    task = loop.task()
    loop.command(f"status {task.id}", response="after")
    loop.pump(until=lambda: bool(loop.slack.responses.get("after")))
    [status] = loop.slack.texts("after")
    assert f"Task `{task.id}`" in status and "*generating*" in status


def test_the_cancel_button_stops_a_running_task_and_the_message_says_who(slack_loop: SlackLoop):
    loop = slack_loop
    loop.command("fix acme/widgets#7")
    loop.pump(until=lambda: loop.latest_run() is not None and "codeloop:cancel" in loop.buttons())
    task_id = str(loop.task().id)
    loop.click("codeloop:cancel", task_id, STRANGER, "stranger")
    loop.pump(until=lambda: bool(loop.slack.responses.get("stranger")))
    assert "codeloop link slack" in loop.slack.texts("stranger")[0] and loop.task_status() != "cancelled"

    loop.click("codeloop:cancel", task_id, WRITER, "writer")
    loop.pump(until=lambda: loop.task_status() == "cancelled" and "codeloop:retry" in loop.buttons())
    assert "Cancelled by @" in loop.message_text() and "maintainer" in loop.message_text()
    assert len(loop.slack.api_calls("chat.postMessage")) == 1


def test_the_command_rate_limits_count_slack_and_github_alike(slack_loop: SlackLoop, monkeypatch):
    monkeypatch.setenv("WORK_COMMANDS_PER_USER", "1")
    reset_settings()
    loop = slack_loop
    loop.comment(7, "/codeloop fix from GitHub")  # the linked login's one command of the window
    loop.pump(until=lambda: loop.task() is not None)
    loop.command("fix acme/widgets#7 from Slack", response="over")
    loop.pump(until=lambda: bool(loop.slack.responses.get("over")))
    [note] = loop.slack.texts("over")
    assert "Sorry @maintainer" in note and "try again after" in note
    assert len(loop.codegen.runs) <= 1 and loop.task().source == "comment"


def test_who_cannot_see_a_private_repository_learns_nothing_about_its_tasks(slack_loop: SlackLoop):
    loop = slack_loop
    loop.command("fix acme/widgets#7 the secret plan")
    loop.pump(until=lambda: loop.latest_run() is not None)
    task = loop.task()
    for number, target in enumerate((str(task.id), "acme/widgets#7")):
        loop.command(f"status {target}", user=OUTSIDER, response=f"outside-{number}")
        loop.pump(until=lambda n=number: bool(loop.slack.responses.get(f"outside-{n}")))
        [answer] = loop.slack.texts(f"outside-{number}")
        assert answer == mrkdwn(no_access_text("outsider", WIDGETS))  # as if codeloop were not installed
        assert str(task.id) not in answer and "generating" not in answer
