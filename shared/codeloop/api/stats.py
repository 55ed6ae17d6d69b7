"""``GET /api/v1/stats``: how well the loop works, overall or for one repository.

A Powertools router; the task API's resolver includes it (``app.include_router(router)``).
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from codeloop.api.auth import require_caller, unauthorized

router = Router()


@router.get(
    "/api/v1/stats",
    summary="Success rates, lead times, step error rates, retries and attempts",
    responses={200: {"description": "the figures"}, 401: {}, 404: {"description": "unknown repository"}},
)
def get_stats(
    repository: Annotated[
        str | None, Query(pattern=r"^[\w.-]+/[\w.-]+$", description="owner/name: one repository's figures")
    ] = None,
) -> Response[Any]:
    from codeloop.db import stats_store, store
    from codeloop.db.pool import transaction

    if require_caller(router.current_event) is None:
        return unauthorized()
    with transaction() as conn:
        if repository is not None and store.get_repository_by_name(conn, repository) is None:
            return Response(
                status_code=404,
                content_type=content_types.APPLICATION_JSON,
                body={"error": f"codeloop does not know the repository {repository}"},
            )
        stats = stats_store.collect(conn, repository)
    return Response(
        status_code=200, content_type=content_types.APPLICATION_JSON, body=stats.model_dump(mode="json")
    )
