"""The delivery log: ``GET /api/v1/deliveries``, ``GET /api/v1/deliveries/{id}`` and
``POST /api/v1/deliveries/{id}/replay``.

A key sees the deliveries of its repositories and installations; a delivery about no repository
(an installation event) only with its installation. Any other delivery is a 404, as if it did
not exist, and its payload is never shown. A Powertools router; the task API includes it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from codeloop.api.auth import authenticate
from codeloop.domain.delivery_log import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    BadCursor,
    Cursor,
    DeliveryFilter,
    DeliverySource,
    LoggedDelivery,
    reaches_delivery,
    shown_payload,
)
from codeloop.domain.models import WITHOUT_NUL, DeliveryStatus

router = Router()

LIST_PATH = "/api/v1/deliveries"
DELIVERY_ID = Path(min_length=1, max_length=200, pattern=r"^[\w.:-]+$", description="X-GitHub-Delivery")
KEY_RESPONSES: dict[int | str, Any] = {
    401: {"description": "no live API key"},
    429: {"description": "the key's request limit; see Retry-After"},
}
DELIVERY_RESPONSES: dict[int | str, Any] = {
    404: {
        "description": "no such delivery, or one outside the key's scope (its installations and repositories)"
    },
    **KEY_RESPONSES,
}


def _json(status: int, body: Any) -> Response[Any]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def summary(delivery: LoggedDelivery) -> dict[str, Any]:
    """A delivery as the log lists it: never its payload."""
    body = delivery.model_dump(mode="json")
    return {"id": body.pop("delivery_id"), "repository": body.pop("repository_full_name"), **body}


@router.get(
    LIST_PATH,
    summary="Stored webhook deliveries, newest first, a page at a time",
    responses={
        200: {"description": "a page of the key's deliveries; `next` is the following page, null at the end"},
        400: {"description": "a cursor this API did not hand out"},
        **KEY_RESPONSES,
    },
)
def list_deliveries(
    source: Annotated[DeliverySource | None, Query(description="who sent it")] = None,
    event: Annotated[
        str | None, Query(max_length=100, pattern=WITHOUT_NUL, description="X-GitHub-Event, e.g. issue_comment")
    ] = None,
    action: Annotated[
        str | None, Query(max_length=100, pattern=WITHOUT_NUL, description="the payload's action")
    ] = None,
    repository: Annotated[str | None, Query(pattern=r"^[\w.-]+/[\w.-]+$", description="owner/name")] = None,
    status: Annotated[DeliveryStatus | None, Query()] = None,
    since: Annotated[datetime | None, Query(description="received at or after (ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="received before (ISO 8601)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[
        str | None, Query(max_length=1000, description="`next_cursor` of the page before")
    ] = None,
) -> Response[Any]:
    from codeloop.db import deliveries_store
    from codeloop.db.pool import transaction

    key = authenticate(router.current_event)
    if isinstance(key, Response):
        return key
    try:
        after = Cursor.decode(cursor) if cursor else None
    except BadCursor as bad:
        return _json(400, {"error": str(bad)})
    where = DeliveryFilter(
        source=source,
        event=event,
        action=action,
        repository=repository,
        status=status,
        since=since,
        until=until,
    )
    with transaction() as conn:  # one row more than the page says whether another page follows
        rows = deliveries_store.page(conn, where, scope=key, limit=limit + 1, after=after)
    shown = rows[:limit]
    next_cursor = Cursor.after(shown[-1]).encode() if len(rows) > limit else None
    return _json(
        200,
        {
            "deliveries": [summary(delivery) for delivery in shown],
            "next_cursor": next_cursor,
            "next": _next_link(where, limit, next_cursor) if next_cursor else None,
        },
    )


def _next_link(where: DeliveryFilter, limit: int, next_cursor: str) -> str:
    """The same query, one page on."""
    params = {name: value for name, value in where.model_dump(mode="json").items() if value is not None}
    return f"{LIST_PATH}?{urlencode({**params, 'limit': limit, 'cursor': next_cursor})}"


@router.get(
    f"{LIST_PATH}/<delivery_id>",
    summary="One stored delivery, with its payload and its replays",
    responses={200: {"description": "the delivery"}, **DELIVERY_RESPONSES},
)
def get_delivery(delivery_id: Annotated[str, DELIVERY_ID]) -> Response[Any]:
    from codeloop.db import deliveries_store, store
    from codeloop.db.pool import transaction

    key = authenticate(router.current_event)
    if isinstance(key, Response):
        return key
    with transaction() as conn:
        delivery = deliveries_store.get(conn, delivery_id)
        if delivery is None or not reaches_delivery(key, delivery):
            return _json(404, {"error": f"no delivery {delivery_id}"})
        payload = store.get_delivery_payload(conn, delivery_id)
        replays = deliveries_store.replays(conn, delivery_id)
    return _json(
        200,
        {
            "delivery": summary(delivery)
            | {
                "payload": shown_payload(delivery, payload),
                "replays": [
                    {
                        "id": r.id,
                        "by": r.actor,
                        "new_task": r.new_values.get("new_task"),
                        "at": r.created_at.isoformat(),
                    }
                    for r in replays
                ],
            }
        },
    )


@router.post(
    f"{LIST_PATH}/<delivery_id>/replay",
    summary="Process a stored delivery again",
    description=(
        "The delivery goes through the events queue as when it was received. Its commands are the "
        "same requests as before, so a replayed `/codeloop fix` finds the task it made; with "
        "`new_task=true` each command makes a new task. Every replay is written in the audit log."
    ),
    responses={202: {"description": "replayed: queued, or ignored as when it arrived"}, **DELIVERY_RESPONSES},
)
def post_replay(
    delivery_id: Annotated[str, DELIVERY_ID],
    new_task: Annotated[
        bool, Query(description="make new tasks rather than find the ones made before")
    ] = False,
) -> Response[Any]:
    from codeloop.services.intake.replay import replay_delivery

    key = authenticate(router.current_event)
    if isinstance(key, Response):
        return key
    outcome = replay_delivery(
        delivery_id,
        actor=f"api:{key.name}",
        scope=key,
        new_task=new_task,
        correlation_id=router.current_event.request_context.request_id,
    )
    if outcome is None:
        return _json(404, {"error": f"no delivery {delivery_id}"})
    return _json(202, {"replay": outcome.model_dump(mode="json")})
