"""``GET /api/v1/stats``: how well the loop works, over the caller's scope or for one repository in it.

A Powertools router; the task API's resolver includes it (``app.include_router(router)``).
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from codeloop.api.auth import authenticate

router = Router()


@router.get(
    "/api/v1/stats",
    summary="Success rates, lead times, step error rates, retries and attempts",
    responses={
        200: {"description": "the figures, over the key's installations and repositories only"},
        401: {"description": "no live API key"},
        404: {"description": "unknown repository, or one outside the key's scope"},
        429: {"description": "the key's request limit; see Retry-After"},
    },
)
def get_stats(
    repository: Annotated[
        str | None, Query(pattern=r"^[\w.-]+/[\w.-]+$", description="owner/name: one repository's figures")
    ] = None,
) -> Response[Any]:
    from codeloop.db import stats_store, store
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
    return Response(
        status_code=200, content_type=content_types.APPLICATION_JSON, body=stats.model_dump(mode="json")
    )
