"""The delivery log's pure rules: cursors, the scope of a key, times without an offset, replay keys."""

import uuid
from datetime import UTC, datetime

import pytest

from codeloop.domain.commands import Command, WorkRequest
from codeloop.domain.delivery_log import BadCursor, Cursor, DeliveryFilter, reaches_delivery
from codeloop.domain.models import ApiKey, DeliveryStatus, WebhookDelivery

NOW = datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)


def delivery(installation_id: int | None, repository_id: int | None) -> WebhookDelivery:
    return WebhookDelivery(
        delivery_id="d-1", event="issues", action="opened", installation_id=installation_id,
        repository_id=repository_id, repository_full_name=None, status=DeliveryStatus.PROCESSED,
        error=None, attempts=1, received_at=NOW, queued_at=None, processed_at=None,
    )  # fmt: skip


def key(installations: list[int], repositories: list[int]) -> ApiKey:
    return ApiKey(
        id=uuid.uuid4(), name="k", prefix="abcd", installation_ids=installations,
        repository_ids=repositories, created_at=NOW, last_used_at=None, revoked_at=None,
    )  # fmt: skip


def test_a_cursor_round_trips_to_the_microsecond():
    cursor = Cursor(received_at=NOW, delivery_id="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert Cursor.decode(cursor.encode()) == cursor


@pytest.mark.parametrize(
    "text", ["", "!!!", "bm90LWpzb24", "eyJ0IjoxfQ", "eyJ0IjoiMjAyNC0wNS0wMVQxMDowMCIsImlkIjoiYSJ9"]
)
def test_a_cursor_not_handed_out_is_refused(text):
    # "not-json", {"t": 1} and a time without an offset (this API never hands one out)
    with pytest.raises(BadCursor, match="start again without it"):
        Cursor.decode(text)


def test_scope_reaches_a_delivery_by_repository_or_installation():
    assert reaches_delivery(key([7], []), delivery(7, 42))
    assert reaches_delivery(key([], [42]), delivery(7, 42))
    assert not reaches_delivery(key([8], [43]), delivery(7, 42))
    # An installation event (no repository) needs the installation, not one of its repositories.
    assert reaches_delivery(key([7], []), delivery(7, None))
    assert not reaches_delivery(key([], [42]), delivery(7, None))
    assert not reaches_delivery(key([], []), delivery(None, None))


def test_filter_times_without_an_offset_are_utc():
    where = DeliveryFilter(since=datetime(2024, 5, 1), until="2024-05-02T00:00:00+02:00")
    assert where.since == datetime(2024, 5, 1, tzinfo=UTC)
    assert where.until.utcoffset().total_seconds() == 7200


def test_a_replay_asked_for_a_new_task_is_a_request_of_its_own():
    request = WorkRequest(
        command=Command(name="fix"), source="comment", delivery_id="d-1", installation_id=1,
        repository_id=2, repository_full_name="o/r", number=1, is_pull_request=False,
        requester_login="someone", requester_is_bot=False, position=1,
    )  # fmt: skip
    assert request.idempotency_key == "d-1:1"
    assert request.model_copy(update={"replay_id": 9}).idempotency_key == "d-1:1:replay:9"
