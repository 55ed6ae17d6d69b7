"""The Slack routes at the front, before any work: what is refused, ignored or answered at once."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import psycopg
import pytest

from codeloop.api.front import handle
from codeloop.local.http import to_event
from codeloop.settings import reset_settings
from tests.fakes.slack_api import SIGNING_SECRET, button_body, command_body, signed_headers


@pytest.fixture
def front(db_url, monkeypatch):
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    reset_settings()
    return db_url


def post(path: str, body: bytes, headers: dict | None = None) -> tuple[int, dict]:
    result = handle(to_event("POST", path, headers or signed_headers(body), body), None)
    return result["statusCode"], json.loads(result["body"])


def stored(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        return conn.execute("select count(*) from webhook_deliveries").fetchone()[0]


def test_what_is_not_a_slack_request_gets_400_and_nothing_is_stored(front):
    for body in (urlencode({"payload": "{not json"}).encode(), urlencode({"payload": "[1]"}).encode()):
        status, answer = post("/webhooks/slack/interactions", body)
        assert status == 400 and "not a Slack" in answer["error"]
    body = button_body("codeloop:retry", "not-a-task-id", user_id="U1", response_url="https://hooks.slack.com/x")
    assert post("/webhooks/slack/interactions", body)[0] == 400
    assert stored(front) == 0


def test_a_button_that_is_not_ours_is_ignored(front):
    body = button_body("someone-elses-button", "x", user_id="U1", response_url="https://hooks.slack.com/x")
    assert post("/webhooks/slack/interactions", body) == (200, {})
    assert stored(front) == 0


def test_a_command_without_a_place_is_answered_with_how_to_write_it(front):
    body = command_body("fix the login page", user_id="U1", response_url="https://hooks.slack.com/x")
    status, answer = post("/webhooks/slack/commands", body)
    assert status == 200 and answer["response_type"] == "ephemeral"
    assert "Tell me where" in answer["text"] and "owner/repo#123" in answer["text"]
    assert stored(front) == 0


def test_the_token_field_is_never_stored(front):
    body = command_body("status acme/widgets#7", user_id="U1", response_url="https://hooks.slack.com/x")
    assert post("/webhooks/slack/commands", body)[0] == 200
    with psycopg.connect(front) as conn:
        payload, source = conn.execute("select payload, source from webhook_deliveries").fetchone()
    assert "token" not in payload and payload["user_id"] == "U1" and source == "slack"


@pytest.mark.parametrize("secret", [None, "REPLACE_WITH_THE_SLACK_SIGNING_SECRET"])  # unset, or the stack's placeholder
def test_without_a_signing_secret_the_routes_say_so(db_url, monkeypatch, secret):
    """template.yaml's placeholder is public text: a request signed with it is a forgery."""
    if secret is None:
        monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
    else:
        monkeypatch.setenv("SLACK_SIGNING_SECRET", secret)
    reset_settings()
    body = command_body("fix acme/widgets#7 the login page", user_id="U1", response_url="https://hooks.slack.com/x")
    status, answer = post("/webhooks/slack/commands", body, signed_headers(body, secret=secret or SIGNING_SECRET))
    assert status == 503 and "SLACK_SIGNING_SECRET" in answer["error"]
    assert stored(db_url) == 0


def test_the_routes_take_only_post(front):
    result = handle(to_event("GET", "/webhooks/slack/commands", {}, b""), None)
    assert result["statusCode"] == 405


def test_a_nul_in_the_text_is_stored_replaced(front):
    body = command_body("status acme/widgets#7 a\x00b", user_id="U1", response_url="https://hooks.slack.com/x")
    assert post("/webhooks/slack/commands", body)[0] == 200
    with psycopg.connect(front) as conn:
        (payload,) = conn.execute("select payload from webhook_deliveries").fetchone()
    assert payload["text"] == "status acme/widgets#7 a\ufffdb"
