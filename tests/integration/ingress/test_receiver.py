"""The webhook receiver end to end: API Gateway event → real PostgreSQL → the emulated events queue."""

import base64
import json

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codeloop.api.front import handle
from codeloop.domain.webhooks import route
from tests.conftest import receive_all
from tests.fixtures import WEBHOOK_EXAMPLES
from tests.unit.ingress.payloads import SECRET, envelope_for, load, signed_headers


@pytest.fixture
def receiver(db_url, aws, monkeypatch):
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", SECRET)
    return aws


def post(body: bytes, headers: dict, *, base64_body: bool = False) -> dict:
    event = {
        "version": "2.0",
        "rawPath": "/webhooks/github",
        "headers": headers,
        "requestContext": {"http": {"method": "POST", "path": "/webhooks/github"}},
        "body": base64.b64encode(body).decode() if base64_body else body.decode("utf-8", "surrogateescape"),
        "isBase64Encoded": base64_body,
    }
    result = handle(event, None)
    return {"status": result["statusCode"], "body": json.loads(result["body"])}


def rows(db_url: str) -> list[tuple]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            "select delivery_id, event, status from webhook_deliveries order by received_at"
        ).fetchall()


def test_a_command_comment_is_stored_and_queued_in_its_conversation_group(receiver, db_url):
    body = json.dumps(load("issue_comment/created.payload.json")).encode()
    answer = post(body, signed_headers(body, "issue_comment", "d-1"), base64_body=True)
    assert answer == {"status": 202, "body": {"status": "queued", "delivery_id": "d-1"}}
    assert rows(db_url) == [("d-1", "issue_comment", "queued")]
    with psycopg.connect(db_url) as conn:  # stored as queued at once: nothing is written after the send
        [(queued_at, audited)] = conn.execute(
            "select queued_at, (select count(*) from audit_log where entity = 'webhook_deliveries')"
            " from webhook_deliveries"
        ).fetchall()
    assert queued_at is not None and audited == 0
    [message] = receive_all(receiver["EVENTS_QUEUE_URL"])
    assert message["body"] == {"delivery_id": "d-1", "event": "issue_comment", "action": "created"}
    envelope, _ = envelope_for("issue_comment/created.payload.json")
    assert message["attributes"]["MessageGroupId"] == envelope.message_group_id
    assert message["attributes"]["MessageDeduplicationId"] == "d-1"


def test_the_same_delivery_twice_is_one_row_and_one_message(receiver, db_url):
    body = json.dumps(load("issue_comment/created.payload.json")).encode()
    assert post(body, signed_headers(body, "issue_comment", "d-2"))["status"] == 202
    again = post(body, signed_headers(body, "issue_comment", "d-2"))
    assert again == {"status": 200, "body": {"status": "duplicate", "delivery_id": "d-2"}}
    assert len(rows(db_url)) == 1
    assert len(receive_all(receiver["EVENTS_QUEUE_URL"])) == 1


def test_the_same_body_under_a_new_delivery_id_is_a_duplicate(receiver, db_url):
    """The id is not signed: a replayed body must not count as a new delivery."""
    body = json.dumps(load("issue_comment/created.payload.json")).encode()
    assert post(body, signed_headers(body, "issue_comment", "d-first"))["status"] == 202
    replay = post(body, signed_headers(body, "issue_comment", "d-replayed"))
    assert replay == {"status": 200, "body": {"status": "duplicate", "delivery_id": "d-replayed"}}
    assert rows(db_url) == [("d-first", "issue_comment", "queued")]
    assert len(receive_all(receiver["EVENTS_QUEUE_URL"])) == 1


@pytest.mark.parametrize("tamper", ["body", "signature", "missing", "other-secret"])
def test_a_tampered_delivery_is_401_and_nothing_is_stored(receiver, db_url, tamper):
    body = json.dumps(load("issue_comment/created.payload.json")).encode()
    headers = signed_headers(body, "issue_comment", "d-3")
    if tamper == "body":
        body = body.replace(b'"created"', b'"deleted"', 1)
    elif tamper == "signature":
        headers["x-hub-signature-256"] = headers["x-hub-signature-256"][:-4] + "0000"
    elif tamper == "missing":
        del headers["x-hub-signature-256"]
    else:
        from codeloop.domain.webhooks import sign

        headers["x-hub-signature-256"] = sign(body, "not the secret")
    answer = post(body, headers)
    assert answer["status"] == 401
    assert rows(db_url) == []
    assert receive_all(receiver["EVENTS_QUEUE_URL"]) == []


def test_a_previous_secret_is_accepted_during_a_rotation(receiver, db_url, monkeypatch):
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", "the new secret")
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET_PREVIOUS", SECRET)
    body = json.dumps(load("issues/labeled.payload.json")).encode()
    assert post(body, signed_headers(body, "issues", "d-rot"))["status"] == 202


@pytest.mark.parametrize(
    ("body", "drop", "status"),
    [
        (b"{not json", None, 400),
        (b"[1, 2]", None, 400),
        (b"{}", "x-github-event", 400),
        (b"{}", "x-github-delivery", 400),
    ],
)
def test_malformed_deliveries_get_a_clear_4xx(receiver, db_url, body, drop, status):
    headers = signed_headers(body, "issues", "d-bad")
    if drop:
        del headers[drop]
    answer = post(body, headers)
    assert answer["status"] == status and answer["body"]["error"]
    assert rows(db_url) == []


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (rb'{"action": "opened", "title": "\ud800"}', "lone surrogate"),
        (b'{"action": "opened", "score": NaN}', "NaN"),
        (b'{"action": "opened", "score": 1e999}', "1e999"),
    ],
)
def test_signed_json_postgresql_cannot_store_is_400_and_nothing_is_stored(receiver, db_url, body, named):
    answer = post(body, signed_headers(body, "issues", "d-odd"))
    assert answer["status"] == 400 and named in answer["body"]["error"]
    assert rows(db_url) == []
    assert receive_all(receiver["EVENTS_QUEUE_URL"]) == []


def test_a_body_over_25_mb_is_413(receiver, db_url):
    body = b'{"pad": "' + b"x" * (25 * 1024 * 1024) + b'"}'
    assert post(body, signed_headers(body, "issues", "d-big"), base64_body=True)["status"] == 413
    assert rows(db_url) == []


def test_ping_is_200_and_other_events_are_recorded_as_ignored(receiver, db_url):
    ping = json.dumps(load("ping/payload.json")).encode()
    assert post(ping, signed_headers(ping, "ping", "d-ping"))["body"]["status"] == "pong"
    star = (WEBHOOK_EXAMPLES / "star" / "created.payload.json").read_bytes()
    answer = post(star, signed_headers(star, "star", "d-star"))
    assert answer == {"status": 202, "body": {"status": "ignored", "delivery_id": "d-star"}}
    assert {r[0]: r[2] for r in rows(db_url)} == {"d-ping": "ignored", "d-star": "ignored"}
    assert receive_all(receiver["EVENTS_QUEUE_URL"]) == []


def test_an_enqueue_failure_keeps_the_delivery_for_the_sweeper(receiver, db_url, monkeypatch):
    monkeypatch.setenv("EVENTS_QUEUE_URL", receiver["EVENTS_QUEUE_URL"].replace("codeloop-events", "nowhere"))
    from codeloop.settings import reset_settings

    reset_settings()
    body = json.dumps(load("issue_comment/created.payload.json")).encode()
    answer = post(body, signed_headers(body, "issue_comment", "d-lost"))
    assert answer == {"status": 202, "body": {"status": "accepted", "delivery_id": "d-lost"}}
    assert rows(db_url) == [("d-lost", "issue_comment", "received")]


def test_a_delivery_a_worker_processed_before_the_receiver_marked_it_queued_stays_processed(
    receiver, db_url, monkeypatch
):
    """The worker can take the message and finish between the send and the receiver's next
    statement; 'queued' written over 'processed' would have a redelivered message acted on again."""
    from codeloop.adapters import queues

    send = queues.send

    def send_then_process(*args, **kwargs):
        send(*args, **kwargs)
        with psycopg.connect(db_url, autocommit=True) as conn:  # the worker, faster than the receiver
            conn.execute("update webhook_deliveries set status = 'processed' where delivery_id = 'd-fast'")

    monkeypatch.setattr(queues, "send", send_then_process)
    body = json.dumps(load("issue_comment/created.payload.json")).encode()
    assert post(body, signed_headers(body, "issue_comment", "d-fast"))["status"] == 202
    assert rows(db_url) == [("d-fast", "issue_comment", "processed")]


def test_without_a_webhook_secret_the_receiver_says_what_is_missing(db_url, aws, monkeypatch):
    monkeypatch.delenv("GITHUB_WEBHOOK_SECRET", raising=False)
    answer = post(b"{}", signed_headers(b"{}", "issues"))
    assert answer["status"] == 503 and "GITHUB_WEBHOOK_SECRET" in answer["body"]["error"]


def test_every_example_payload_is_stored_and_routed_never_a_5xx(receiver, db_url):
    corpus = sorted(WEBHOOK_EXAMPLES.glob("*/*.json"))
    assert len(corpus) > 200
    expected_queued = 0
    for index, path in enumerate(corpus):
        body = path.read_bytes()
        event = path.parent.name
        answer = post(body, signed_headers(body, event, f"corpus-{index}"), base64_body=True)
        assert answer["status"] in (200, 202), (path, answer)
        envelope, _ = envelope_for(f"{event}/x", json.loads(body))
        expected_queued += route(envelope) == "act"
    stored = rows(db_url)
    assert len(stored) == len(corpus)
    statuses = {status for _, _, status in stored}
    assert statuses <= {"queued", "ignored"}
    assert sum(status == "queued" for _, _, status in stored) == expected_queued > 0
    assert len(receive_all(receiver["EVENTS_QUEUE_URL"])) == expected_queued


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.binary(max_size=300) | st.text(max_size=200).map(str.encode),
    headers=st.dictionaries(
        st.sampled_from(
            ["x-github-event", "x-github-delivery", "x-hub-signature-256", "content-type", "x-other"]
        ),
        st.text(max_size=60),
    ),
    sign_it=st.booleans(),
)
def test_random_headers_and_bodies_never_get_a_5xx(receiver, body, headers, sign_it):
    from codeloop.domain.webhooks import sign

    if sign_it:
        headers = headers | {"x-hub-signature-256": sign(body, SECRET)}
    answer = post(body, headers, base64_body=True)
    assert answer["status"] < 500, answer
