"""Linear deliveries: the signature, the minute either way, and what a delivery asks."""

from __future__ import annotations

import json

import pytest

from codeloop.domain.linear import (
    acceptance_criteria,
    body_linking_linear_issue,
    linear_reference,
    parse_delivery,
    requests_from_payload,
    sign,
    verify_signature,
)
from codeloop.domain.webhooks import WebhookRejected
from tests.fakes.linear_webhooks import delivery

SECRET = "s3cret"
NOW = 1_796_695_800_000


def signed(payload: dict) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    return body, {"Linear-Signature": sign(body, SECRET)}


def test_a_signed_delivery_within_the_minute_is_accepted():
    body, headers = signed(delivery("issue_labelled", webhookTimestamp=NOW - 59_000))
    envelope, payload = parse_delivery(headers, body, SECRET, NOW)
    assert (envelope.type, envelope.action, envelope.acted_on) == ("Issue", "update", True)
    assert envelope.issue_id == payload["data"]["id"]
    assert envelope.delivery_id.startswith(f"linear:{payload['webhookId']}:")


@pytest.mark.parametrize(
    "signature",
    ["", "sha256=" + "0" * 64, "0" * 64, "zz" * 32, "a" * 63],
)
def test_a_missing_or_wrong_signature_is_401(signature):
    body, _ = signed(delivery("issue_labelled", webhookTimestamp=NOW))
    with pytest.raises(WebhookRejected) as refused:
        parse_delivery({"linear-signature": signature}, body, SECRET, NOW)
    assert refused.value.status == 401


def test_a_body_changed_after_signing_is_401():
    body, headers = signed(delivery("issue_labelled", webhookTimestamp=NOW))
    with pytest.raises(WebhookRejected) as refused:
        parse_delivery(headers, body.replace(b"ENG-123", b"ENG-124"), SECRET, NOW)
    assert refused.value.status == 401


def test_an_empty_secret_verifies_nothing():
    assert not verify_signature(b"{}", sign(b"{}", ""), "")


@pytest.mark.parametrize("skew_ms", [-61_000, 61_000, -3_600_000])
def test_a_delivery_more_than_a_minute_from_now_is_refused_as_stale(skew_ms):
    body, headers = signed(delivery("issue_labelled", webhookTimestamp=NOW + skew_ms))
    with pytest.raises(WebhookRejected) as refused:
        parse_delivery(headers, body, SECRET, NOW)
    assert refused.value.status == 400 and "stale" in refused.value.message


def test_the_label_added_by_a_user_is_a_fix_by_that_user():
    payload = delivery("issue_labelled")
    [request] = requests_from_payload(payload)
    assert (request.trigger, request.command.name, request.issue_id) == (
        "label",
        "fix",
        payload["data"]["id"],
    )
    assert (request.actor_id, request.actor_name) == (payload["actor"]["id"], "Maya Writer")


def test_an_update_that_did_not_add_the_label_asks_nothing():
    payload = delivery("issue_labelled")
    payload["updatedFrom"] = {"labelIds": payload["data"]["labelIds"]}  # it was there already
    assert requests_from_payload(payload) == []
    payload["updatedFrom"] = {"title": "old title"}  # another field changed
    assert requests_from_payload(payload) == []


def test_deliveries_not_from_a_user_ask_nothing():
    payload = delivery("issue_labelled")
    payload["actor"] = {"id": "int-1", "name": "GitHub", "type": "integration"}
    assert requests_from_payload(payload) == []
    comment = delivery("comment_created")
    comment["data"]["botActor"] = '{"type": "oauthClient"}'
    assert requests_from_payload(comment) == []


def test_a_comment_uses_the_github_command_parser():
    payload = delivery("comment_created")
    [request] = requests_from_payload(payload)
    assert (request.trigger, request.command.name, request.command.args) == (
        "comment", "fix", "keep the signature of add()",
    )  # fmt: skip
    assert request.comment_id == payload["data"]["id"]
    payload["data"]["body"] = "```\n/codeloop fix\n```\n> /codeloop fix\nplease /codeloop fix"
    assert requests_from_payload(payload) == []


def test_an_edited_comment_asks_only_what_it_did_not_ask_before():
    payload = delivery("comment_created", action="update")
    payload["updatedFrom"] = {"body": "/codeloop fix keep the signature of add()"}
    payload["data"]["body"] += "\n/codeloop status"
    assert [r.command.name for r in requests_from_payload(payload)] == ["status"]
    payload["updatedFrom"] = {"editedAt": None}  # the body was not touched
    assert requests_from_payload(payload) == []


def test_acceptance_criteria_are_read_from_their_heading_to_the_next():
    description = (
        "Some text\n\n## Acceptance criteria\n\n- [ ] one\n* two\n1. three\n\n## Notes\n- not this\n"
    )
    assert acceptance_criteria(description) == ["one", "two", "three"]
    assert acceptance_criteria("**Acceptance criteria:**\n- a\n") == ["a"]
    assert acceptance_criteria("no criteria") == [] == acceptance_criteria(None)


def test_a_pull_request_names_the_linear_issue_only_for_a_well_formed_identifier():
    assert linear_reference({"linear": {"identifier": "ENG-123"}}) == "Fixes ENG-123"
    assert linear_reference({"linear": {"identifier": "ENG-1\n@everyone"}}) == ""
    assert linear_reference({}) == ""


def test_a_description_gets_the_linear_line_only_when_it_does_not_name_the_issue_already():
    task = {"linear": {"identifier": "ENG-123"}}
    assert body_linking_linear_issue("Fix add.\n\n", task) == "Fix add.\n\nFixes ENG-123"
    assert body_linking_linear_issue(None, task) == "Fixes ENG-123"
    assert body_linking_linear_issue("See ENG-1234 and XENG-123", task) == "See ENG-1234 and XENG-123\n\nFixes ENG-123"
    assert body_linking_linear_issue("Resolves eng-123.", task) is None
    assert body_linking_linear_issue("Fix add.", {}) is None
    assert body_linking_linear_issue("Fix add.", {"linear": {"identifier": "ENG-1\n@everyone"}}) is None
