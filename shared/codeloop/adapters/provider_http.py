"""HTTP calls to code-generation providers, with failures turned into the provider error classes.

Shared by the Codegen API and the OpenAI-compatible adapters so both classify alike:
429 → RateLimited (Retry-After honoured), 402 → PlanLimitReached, 5xx / timeouts / refused or
dropped connections → RetryableCall, other 4xx → FinalError. A request that creates something and
fails after it may have reached the server → OutcomeUnknown.
"""

from __future__ import annotations

import email.utils
import time
from typing import Any

import httpx

from codeloop.domain.providers import (
    FinalError,
    OutcomeUnknown,
    PlanLimitReached,
    RateLimited,
    RetryableCall,
)

DEFAULT_RETRY_AFTER_SECONDS = 60.0
# Connect fast or fail fast; reads may be slow (a model writing a diff), writes are small.
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
_MESSAGE_LIMIT = 300

# Failures that prove the request never reached the server, so even a create is safe to repeat.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def retry_after_seconds(value: str | None, now: float | None = None) -> float:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return DEFAULT_RETRY_AFTER_SECONDS
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER_SECONDS
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:_MESSAGE_LIMIT] or response.reason_phrase
    if isinstance(body, dict):
        for key in ("message", "detail", "error"):
            if key in body:
                detail = body[key]
                if isinstance(detail, dict) and "message" in detail:
                    detail = detail["message"]
                return str(detail)[:_MESSAGE_LIMIT]
    return str(body)[:_MESSAGE_LIMIT]


def raise_for_status(provider: str, response: httpx.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    what = f"{response.request.method} {response.request.url.path} → {status}: {_error_message(response)}"
    if status == 429:
        retry_after = retry_after_seconds(response.headers.get("retry-after"))
        raise RateLimited(provider, what, retry_after=retry_after)
    if status == 402:
        raise PlanLimitReached(provider, what, status_code=status)
    if status >= 500 or status == 408:
        raise RetryableCall(provider, what, status_code=status)
    raise FinalError(provider, what, status_code=status)


def request_json(
    provider: str,
    client: httpx.Client,
    method: str,
    path: str,
    *,
    creates: bool = False,
    json: Any = None,
    params: dict[str, Any] | None = None,
) -> Any:
    """Send one request and return its JSON body, or raise a ``ProviderError``.

    ``creates``: the request starts something on the server (not idempotent); a failure after
    it may have been received raises OutcomeUnknown instead of RetryableCall.
    """
    try:
        response = client.request(method, path, json=json, params=params)
    except _NOT_SENT as exc:
        raise RetryableCall(provider, f"{method} {path}: could not connect ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        # Timed out or dropped after sending: the server may have acted on it.
        what = f"{method} {path}: no answer ({type(exc).__name__})"
        if creates:
            raise OutcomeUnknown(provider, what) from exc
        raise RetryableCall(provider, what) from exc
    raise_for_status(provider, response)
    try:
        return response.json()
    except ValueError as exc:
        error = OutcomeUnknown if creates else RetryableCall
        raise error(
            provider, f"{method} {path}: answer is not JSON", status_code=response.status_code
        ) from exc
