"""Slack through the official ``slack_sdk``: request signatures, the bot's messages, and answers
to a slash command or a button through its ``response_url``.

The Web API's address is ``SLACK_API_URL`` (tests point it at a fake). A ``response_url`` is
only ever called on Slack's own hosts (the host of ``SLACK_API_URL`` or one under it, such as
``hooks.slack.com`` for ``slack.com``), so a stored delivery cannot send codeloop elsewhere.
A Web API call Slack rate-limits (HTTP 429 with ``Retry-After``) raises :class:`SlackRateLimited`;
``WebClient`` is left without its rate-limit retry handler, so nothing here ever sleeps.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from codeloop.domain.webhooks import WebhookRejected
from codeloop.observability import logger
from codeloop.settings import get_settings

SIGNATURE_HEADER = "x-slack-signature"
TIMESTAMP_HEADER = "x-slack-request-timestamp"
MAX_AGE_SECONDS = 5 * 60  # Slack's advice, and SignatureVerifier's window
REQUEST_TIMEOUT_SECONDS = 10


class SlackRateLimited(Exception):
    """Slack answered 429: call again no sooner than ``retry_after`` seconds from now."""

    def __init__(self, method: str, retry_after: float):
        super().__init__(f"{method}: Slack is rate limiting; it takes calls again in {retry_after:.0f} s")
        self.retry_after = retry_after


def verify_request(headers: dict[str, str], body: bytes, *, now: float | None = None) -> None:
    """Raise :class:`WebhookRejected` unless ``body`` is signed by Slack within the last five minutes.

    The timestamp is read first so a stale or malformed one gets its own answer; then
    ``SignatureVerifier`` checks the v0 signature (in constant time) with the signing secret.
    """
    from slack_sdk.signature import Clock, SignatureVerifier

    stamp = headers.get(TIMESTAMP_HEADER, "").strip()
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        raise WebhookRejected(401, f"the {TIMESTAMP_HEADER} header is missing or not a number")
    now = time.time() if now is None else now
    if abs(now - int(stamp)) > MAX_AGE_SECONDS:
        raise WebhookRejected(401, "the request's timestamp is more than five minutes away: a replay, or a wrong clock")

    class _At(Clock):
        def now(self) -> float:
            return now

    secret = get_settings().secret("slack_signing_secret")
    if not SignatureVerifier(secret, _At()).is_valid(body, stamp, headers.get(SIGNATURE_HEADER)):
        raise WebhookRejected(401, f"the {SIGNATURE_HEADER} signature is missing or does not match")


@functools.cache
def _client(token: str, base_url: str) -> Any:
    from slack_sdk import WebClient

    return WebClient(token=token, base_url=base_url.rstrip("/") + "/", timeout=REQUEST_TIMEOUT_SECONDS)


def web_client() -> Any:
    """The bot's ``WebClient`` (one per token and address, reused across warm invocations)."""
    settings = get_settings()
    return _client(settings.secret("slack_bot_token"), settings.slack_api_url)


def is_configured() -> bool:
    """Whether codeloop talks to Slack at all: a bot token is set (a deployed stack's placeholder
    counts as unset)."""
    return get_settings().optional_secret("slack_bot_token") is not None


@contextlib.contextmanager
def _rate_limit_raised(method: str) -> Iterator[None]:
    """Turn Slack's 429 (``{"ok": false, "error": "ratelimited"}`` and ``Retry-After``) into
    :class:`SlackRateLimited`; other errors pass as ``slack_sdk`` raised them."""
    from slack_sdk.errors import SlackApiError

    try:
        yield
    except SlackApiError as exc:
        if exc.response.status_code != 429:
            raise
        from codeloop.adapters.provider_http import retry_after_seconds

        headers = {name.lower(): value for name, value in (exc.response.headers or {}).items()}
        raise SlackRateLimited(method, retry_after_seconds(headers.get("retry-after"))) from exc


def post_message(channel: str, text: str, blocks: list[dict[str, Any]]) -> tuple[str, str]:
    """Post a message; returns the channel id and the message's ts (what ``chat.update`` needs)."""
    with _rate_limit_raised("chat.postMessage"):
        response = web_client().chat_postMessage(channel=channel, text=text, blocks=blocks, unfurl_links=False)
    return str(response["channel"]), str(response["ts"])


def update_message(channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
    with _rate_limit_raised("chat.update"):
        web_client().chat_update(channel=channel, ts=ts, text=text, blocks=blocks)


def is_slack_url(url: str) -> bool:
    """Whether ``url`` is on Slack's hosts: the API's host or one under it, with its scheme."""
    api = urlsplit(get_settings().slack_api_url)
    try:
        parts = urlsplit(url)
        host, api_host = parts.hostname or "", api.hostname or ""
        same_port = parts.port == api.port
    except ValueError:
        return False
    if parts.scheme != api.scheme or not host or parts.username or parts.password:
        return False
    return (host == api_host and same_port) or (host.endswith("." + api_host) and parts.port is None)


def respond(response_url: str, text: str, *, in_channel: bool = False) -> bool:
    """Answer a slash command or a button through its ``response_url`` (ephemeral unless asked).

    False when the URL is not Slack's or Slack refuses the answer (logged; nothing to retry).
    """
    from slack_sdk.webhook import WebhookClient

    if not is_slack_url(response_url):
        logger.warning("response_url refused: not on Slack's hosts", extra={"host": urlsplit(response_url).hostname})
        return False
    response = WebhookClient(response_url, timeout=REQUEST_TIMEOUT_SECONDS).send(
        text=text,
        response_type="in_channel" if in_channel else "ephemeral",
        replace_original=False,
    )
    if response.status_code != 200:
        logger.warning("Slack refused an answer", extra={"status": response.status_code})
        return False
    return True
