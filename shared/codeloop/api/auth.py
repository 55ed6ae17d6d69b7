"""Who calls the API: the name of the live API key a request presents (``codeloop apikey create``)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types

UNAUTHORIZED = (
    "an API key is required: send 'Authorization: Bearer <key>' (create one with 'codeloop apikey create')"
)


def require_caller(event: Any) -> str | None:
    """The key's name, or None when the request (a Powertools HTTP event) presents no live key."""
    from codeloop.db import store
    from codeloop.db.pool import transaction
    from codeloop.domain.api_keys import hash_key, key_from_headers

    key = key_from_headers({k.lower(): v for k, v in (event.headers or {}).items()})
    if not key:
        return None
    with transaction() as conn:
        record = store.authenticate_api_key(conn, hash_key(key))
    return record.name if record else None


def unauthorized() -> Response[Any]:
    return Response(
        status_code=401, content_type=content_types.APPLICATION_JSON, body={"error": UNAUTHORIZED}
    )
