from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codeloop.domain.webhooks import (
    MAX_BODY_BYTES,
    DeliveryEnvelope,
    WebhookRejected,
    decode_body,
    parse_delivery,
    route,
    sign,
    verify_signature,
)

from .payloads import SECRET, WEBHOOK_EXAMPLES, envelope_for, load, signed_headers

# -- signatures ---------------------------------------------------------------------------------


def test_sign_matches_githubs_published_example():
    # docs.github.com "Validating webhook deliveries": this secret and body give this signature.
    assert (
        sign(b"Hello, World!", "It's a Secret to Everybody")
        == "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


def test_signature_of_the_current_secret_is_accepted():
    body = (WEBHOOK_EXAMPLES / "ping/payload.json").read_bytes()
    assert verify_signature(body, sign(body, SECRET), [SECRET])


def test_previous_secret_is_accepted_during_a_rotation():
    body = b'{"zen": "Keep it logically awesome."}'
    assert verify_signature(body, sign(body, "old"), ["new", "old"])
    assert verify_signature(body, sign(body, "new"), ["new", "old"])
    assert not verify_signature(body, sign(body, "older"), ["new", "old"])


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "sha1=757107ea0eb2509fc211221cce984b8a37570b6d",
        "sha256=zz",
        "sha256=é" + "0" * 63,
    ],
)
def test_missing_or_malformed_signatures_are_refused(header):
    assert not verify_signature(b"{}", header, [SECRET])


def test_a_changed_body_or_a_wrong_secret_is_refused():
    body = b'{"action": "created"}'
    assert not verify_signature(body + b" ", sign(body, SECRET), [SECRET])
    assert not verify_signature(body, sign(body, "wrong"), [SECRET])


def test_empty_secrets_never_accept_anything():
    body = b"{}"
    assert not verify_signature(body, sign(body, ""), [""])
    assert not verify_signature(body, sign(body, ""), [])


# -- parse_delivery -----------------------------------------------------------------------------


def _body(name: str) -> bytes:
    return (WEBHOOK_EXAMPLES / name).read_bytes()


def test_a_signed_delivery_gives_its_envelope_and_payload():
    body = _body("issue_comment/created.with-installation.payload.json")
    envelope, payload = parse_delivery(signed_headers(body, "issue_comment", "abc-1"), body, [SECRET])
    assert payload == json.loads(body)
    assert envelope.event == "issue_comment"
    assert envelope.action == "created"
    assert envelope.delivery_id == "abc-1"
    assert envelope.installation_id == payload["installation"]["id"]
    assert envelope.repository_full_name == "Codertocat/Hello-World"


def test_header_names_are_case_insensitive():
    body = _body("ping/payload.json")
    headers = {name.title(): value for name, value in signed_headers(body, "ping").items()}
    assert "X-Github-Event" in headers
    envelope, _ = parse_delivery(headers, body, [SECRET])
    assert route(envelope) == "ping"


def _rejection(headers, body, secrets=(SECRET,)) -> WebhookRejected:
    with pytest.raises(WebhookRejected) as caught:
        parse_delivery(headers, body, list(secrets))
    return caught.value


def test_bad_signature_is_401():
    body = _body("ping/payload.json")
    headers = signed_headers(body, "ping")
    assert _rejection(headers, body, ["another secret"]).status == 401
    del headers["x-hub-signature-256"]
    assert _rejection(headers, body).status == 401


@pytest.mark.parametrize("missing", ["x-github-event", "x-github-delivery"])
def test_missing_event_or_delivery_header_is_400(missing):
    body = _body("ping/payload.json")
    headers = signed_headers(body, "ping")
    del headers[missing]
    rejection = _rejection(headers, body)
    assert rejection.status == 400
    assert missing in rejection.message


def test_oversized_body_is_413_before_anything_else():
    body = b" " * (MAX_BODY_BYTES + 1)
    assert _rejection({}, body).status == 413


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b"[1, 2]", b'"text"', b"null", b""])
def test_malformed_or_non_object_json_is_400(body):
    rejection = _rejection(signed_headers(body, "ping"), body)
    assert rejection.status == 400


def test_deeply_nested_json_is_400_not_a_crash():
    body = b"[" * 100_000 + b"]" * 100_000
    assert _rejection(signed_headers(body, "ping"), body).status == 400


def test_a_lone_surrogate_is_400_however_it_is_written_and_real_text_still_parses():
    """Escaped or as its three raw bytes, a lone surrogate is no text jsonb stores; a pair, or a
    backslash that escapes the next one, is ordinary text."""
    refused = {
        rb'{"title": "\ud800"}': "lone surrogate",
        rb'{"title": "\udc00\ud800"}': "lone surrogate",
        b'{"title": "\xed\xa0\x80"}': "not UTF-8",
    }
    for body, named in refused.items():
        rejection = _rejection(signed_headers(body, "issues"), body)
        assert (rejection.status, named in rejection.message) == (400, True), body
    for body, title in ((rb'{"title": "\ud83d\ude00"}', "\U0001f600"), (rb'{"title": "\\ud800"}', "\\ud800")):
        assert parse_delivery(signed_headers(body, "issues"), body, [SECRET])[1] == {"title": title}


def test_form_encoded_deliveries_are_refused_with_a_hint():
    body = b"payload=%7B%7D"
    headers = signed_headers(body, "ping") | {"content-type": "application/x-www-form-urlencoded"}
    rejection = _rejection(headers, body)
    assert rejection.status == 415
    assert "application/json" in rejection.message


def test_decode_body_handles_api_gateway_base64_bodies():
    raw = _body("ping/payload.json")
    assert decode_body(base64.b64encode(raw).decode(), True) == raw
    assert decode_body(raw.decode(), False) == raw
    assert decode_body(None, False) == b""
    with pytest.raises(WebhookRejected) as caught:
        decode_body("not base64!", True)
    assert caught.value.status == 400


# -- envelope -----------------------------------------------------------------------------------


def test_issue_comment_envelope():
    envelope, payload = envelope_for("issue_comment/created.with-installation.payload.json")
    assert envelope.number == payload["issue"]["number"] == 1
    assert envelope.repository_id == payload["repository"]["id"]
    assert envelope.sender_login == "Codertocat"
    assert envelope.sender_type == "User"
    assert not envelope.sender_is_bot
    assert not envelope.is_pull_request
    assert envelope.message_group_id == "Codertocat/Hello-World#1"


def test_issue_comment_on_a_pull_request_is_marked_as_such():
    payload = load("issue_comment/created.with-installation.payload.json")
    payload["issue"]["pull_request"] = {"url": "https://api.github.com/repos/Codertocat/Hello-World/pulls/1"}
    envelope, _ = envelope_for("issue_comment/created.with-installation.payload.json", payload)
    assert envelope.is_pull_request


def test_pull_request_envelope_uses_the_pull_request_number():
    envelope, payload = envelope_for("pull_request/opened.payload.json")
    assert envelope.number == payload["pull_request"]["number"]
    assert envelope.is_pull_request
    assert envelope.message_group_id == f"{payload['repository']['full_name']}#{envelope.number}"


def test_check_run_and_check_suite_take_the_first_pull_request():
    envelope, payload = envelope_for("check_run/requested_action.payload.json")
    assert envelope.number == payload["check_run"]["pull_requests"][0]["number"] == 26764
    assert envelope.installation_id == 690857
    suite, payload = envelope_for("check_suite/completed.payload.json")
    assert suite.number == payload["check_suite"]["pull_requests"][0]["number"]


def test_check_run_without_pull_requests_groups_by_repository():
    envelope, payload = envelope_for("check_run/rerequested.payload.json")
    assert payload["check_run"]["pull_requests"] == []
    assert envelope.number is None
    assert not envelope.is_pull_request
    assert envelope.message_group_id == "github/hello-world"


def test_app_level_events_group_by_installation():
    envelope, payload = envelope_for("installation/created.payload.json")
    assert envelope.repository_full_name is None
    assert envelope.message_group_id == f"installation:{payload['installation']['id']}"


def test_events_with_neither_repository_nor_installation_still_get_a_group():
    envelope, _ = envelope_for("ping/with-organization.payload.json")
    assert envelope.message_group_id == "event:ping"


def test_bot_sender_is_recognised():
    envelope, payload = envelope_for("check_suite/rerequested.payload.json")
    assert payload["sender"]["type"] == "Bot"
    assert envelope.sender_is_bot
    payload["sender"]["type"] = "User"
    renamed, _ = envelope_for("check_suite/rerequested.payload.json", payload)
    assert renamed.sender_login.endswith("[bot]")
    assert renamed.sender_is_bot


def test_long_repository_names_give_a_valid_sqs_group_id():
    long_name = "o" * 39 + "/" + "r" * 100
    payload = load("pull_request/opened.payload.json")
    payload["repository"]["full_name"] = long_name
    envelope, _ = envelope_for("pull_request/opened.payload.json", payload)
    other = payload | {"repository": payload["repository"] | {"full_name": long_name[:-1] + "x"}}
    other_envelope, _ = envelope_for("pull_request/opened.payload.json", other)
    assert len(envelope.message_group_id) <= 128
    assert envelope.message_group_id != other_envelope.message_group_id


def test_fields_of_the_wrong_type_are_treated_as_absent():
    payload = {
        "action": 5,
        "installation": "x",
        "repository": [],
        "sender": {"login": 7},
        "issue": {"number": True},
    }
    envelope = DeliveryEnvelope.from_delivery("issues", "d", payload)
    assert envelope.action is None
    assert envelope.installation_id is None
    assert envelope.repository_full_name is None
    assert envelope.number is None
    assert envelope.sender_login is None


# -- routing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "action", "expected"),
    [
        ("issue_comment", "created", "act"),
        ("issue_comment", "edited", "act"),
        ("issue_comment", "deleted", "ignore"),
        ("issues", "labeled", "act"),
        ("issues", "opened", "ignore"),
        ("pull_request", "opened", "act"),
        ("pull_request", "synchronize", "act"),
        ("pull_request", "closed", "act"),
        ("pull_request", "reopened", "act"),
        ("pull_request", "edited", "act"),
        ("pull_request", "labeled", "ignore"),
        ("check_suite", "completed", "act"),
        ("check_suite", "requested", "ignore"),
        ("check_run", "requested_action", "act"),
        ("check_run", "rerequested", "act"),
        ("check_run", "completed", "ignore"),
        ("installation", "created", "act"),
        ("installation", "deleted", "act"),
        ("installation_repositories", "added", "act"),
        ("ping", None, "ping"),
        ("push", None, "ignore"),
        ("star", "created", "ignore"),
    ],
)
def test_route(event, action, expected):
    envelope = DeliveryEnvelope(event=event, action=action, delivery_id="d")
    assert route(envelope) == expected


# -- properties ---------------------------------------------------------------------------------

header_names = st.sampled_from(
    ["x-github-event", "X-GitHub-Delivery", "x-hub-signature-256", "content-type", "X-Other"]
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
json_objects = st.dictionaries(
    st.sampled_from(
        ["action", "installation", "repository", "sender", "issue", "pull_request", "check_run", "number"]
    )
    | st.text(max_size=8),
    json_values,
    max_size=8,
)


@settings(max_examples=300)
@given(headers=st.dictionaries(header_names, st.text(max_size=60), max_size=5), body=st.binary(max_size=300))
def test_random_headers_and_bodies_only_ever_raise_webhook_rejected(headers, body):
    try:
        parse_delivery(headers, body, [SECRET])
    except WebhookRejected as rejection:
        assert rejection.status in (400, 401, 413, 415)


@settings(max_examples=300)
@given(
    event=st.text(min_size=1, max_size=30),
    delivery=st.text(min_size=1, max_size=40),
    payload=json_objects,
    body_is_json=st.booleans(),
    raw=st.binary(max_size=200),
)
def test_signed_random_payloads_give_an_envelope_or_a_rejection(event, delivery, payload, body_is_json, raw):
    """With a valid signature, every body reaches the JSON and envelope code: nothing but
    WebhookRejected may escape it, and an accepted one always routes."""
    body = json.dumps(payload).encode() if body_is_json else raw
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": sign(body, SECRET),
    }
    try:
        envelope, parsed = parse_delivery(headers, body, [SECRET])
    except WebhookRejected as rejection:
        assert rejection.status == 400
        return
    assert parsed == json.loads(body)
    assert route(envelope) in ("act", "ignore", "ping")
    assert 0 < len(envelope.message_group_id) <= 128
