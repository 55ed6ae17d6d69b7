"""Who calls the API: the live, scoped API key a request presents (``codeloop apikey create``).

Each key has its own request window (``API_KEY_REQUESTS_PER_MINUTE`` in any 60 seconds, kept in
PostgreSQL so every instance shares it); past it the request is answered 429 with Retry-After.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types

from codeloop.domain.models import ApiKey

UNAUTHORIZED = (
    "an API key is required: send 'Authorization: Bearer <key>' (create one with 'codeloop apikey create')"
)
RATE_WINDOW = timedelta(minutes=1)


def authenticate(event: Any) -> ApiKey | Response[Any]:
    """The caller's key, or the answer to send instead: 401 without a live key, 429 past its limit."""
    from codeloop.db import dispatch_store, store
    from codeloop.db.pool import front_wait, transaction
    from codeloop.domain.api_keys import hash_key, key_from_headers, rate_bucket
    from codeloop.settings import get_settings

    presented = key_from_headers({k.lower(): v for k, v in (event.headers or {}).items()})
    if not presented:
        return _json(401, {"error": UNAUTHORIZED})
    limit = get_settings().api_key_requests_per_minute
    with transaction(wait=front_wait()) as conn:
        key = store.authenticate_api_key(conn, hash_key(presented))
        if key is None:
            return _json(401, {"error": UNAUTHORIZED})
        grant = dispatch_store.take_token(conn, rate_bucket(key), datetime.now(UTC), limit, RATE_WINDOW)
    if not grant.granted:
        retry_after = max(1, math.ceil(grant.wait_seconds))
        return _json(
            429,
            {"error": f"this API key made {limit} requests in the last minute; retry in {retry_after} s"},
            {"Retry-After": str(retry_after)},
        )
    return key


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=headers
    )
