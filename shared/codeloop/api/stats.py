"""``GET /api/v1/stats``: how well the loop works, over the caller's scope or for one repository in it.

``outcomes`` answers the owner's questions over a period (``since``, ``until``): cost per green
pull request, green rate, attempts per task, time to green and tokens per attempt, in total and
by template version, repository and installation (``db/outcome_stats.py``).

A Powertools router; the task API's resolver includes it (``app.include_router(router)``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from codeloop.api.auth import authenticate
from codeloop.domain.costs import STATS_EARLIEST, STATS_LATEST, STATS_PERIOD

router = Router()
ACCEPTED_PERIOD = f"from {STATS_EARLIEST:%Y-%m-%dT%H:%M:%SZ} to {STATS_LATEST:%Y-%m-%dT%H:%M:%SZ}"



@router.get(
    "/api/v1/stats",
    summary="Success rates, lead times, step error rates, retries and attempts",
    responses={
        200: {"description": "the figures, over the key's installations and repositories only"},
        401: {"description": "no live API key"},
        404: {"description": "unknown repository, or one outside the key's scope"},
        422: {"description": f"since or until outside the accepted period, {ACCEPTED_PERIOD}, or malformed"},
        429: {"description": "the key's request limit; see Retry-After"},
    },
)
def get_stats(
    repository: Annotated[
        str | None, Query(pattern=r"^[\w.-]+/[\w.-]+$", description="owner/name: one repository's figures")
    ] = None,
    since: Annotated[
        datetime | None,
        Query(
            description="outcomes and costs of tasks created from then (ISO 8601, "
            f"{ACCEPTED_PERIOD}; default: 30 days ago)",
            ge=STATS_EARLIEST,
            le=STATS_LATEST,
        ),
    ] = None,
    until: Annotated[
        datetime | None,
        Query(
            description=f"…and before then (ISO 8601, {ACCEPTED_PERIOD}; default: now)",
            ge=STATS_EARLIEST,
            le=STATS_LATEST,
        ),
    ] = None,
) -> Response[Any]:
    from codeloop.db import outcome_stats, stats_store, store
    from codeloop.db.pool import transaction
    from codeloop.domain.api_keys import reaches

    key = authenticate(router.current_event)
    if isinstance(key, Response):
        return key
    with transaction() as conn:
        if repository is not None:
            known = store.get_repository_by_name(conn, repository)
            if known is None or not reaches(key, known):
                return Response(
                    status_code=404,
                    content_type=content_types.APPLICATION_JSON,
                    body={"error": f"codeloop does not know the repository {repository}"},
                )
        stats = stats_store.collect(conn, repository, scope=key)
        until = _utc(until) if until else datetime.now(UTC)
        since = _utc(since) if since else until - STATS_PERIOD
        outcomes = outcome_stats.collect(conn, since, until, repository, scope=key)
    body = {**stats.model_dump(mode="json"), "outcomes": outcomes.model_dump(mode="json")}
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=body)


def _utc(moment: datetime) -> datetime:
    """A time without an offset is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
