"""Incoming GitHub webhook deliveries: signature, validation, a light envelope, routing.

Pure functions only. The envelope reads the handful of fields the receiver needs straight from
the parsed JSON: githubkit's typed webhook models cost over a second to build on first use and
reject some real payloads (DESIGN.md, known traps), so they are parsed later, per event, lazily.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, NoReturn

SIGNATURE_HEADER = "x-hub-signature-256"
EVENT_HEADER = "x-github-event"
DELIVERY_HEADER = "x-github-delivery"
CONTENT_TYPE_HEADER = "content-type"
SIGNATURE_PREFIX = "sha256="

# GitHub caps webhook payloads at 25 MB and does not send larger ones.
MAX_BODY_BYTES = 25 * 1024 * 1024
# Header values this long are not GitHub's; refuse them before doing anything with them.
MAX_HEADER_VALUE_CHARS = 200
# A \uXXXX escape of a UTF-16 surrogate (U+D800-U+DFFF): JSON decoding joins a high one and the low
# one after it into a character, but keeps a lone one, which no text (nor PostgreSQL's jsonb) holds.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")

Route = Literal["act", "ignore", "ping"]

# Event name -> the actions codeloop acts on (None: every action).
ACTED_ON: dict[str, frozenset[str] | None] = {
    "issue_comment": frozenset({"created", "edited"}),
    "pull_request_review_comment": frozenset({"created", "edited"}),  # `/codeloop fix` on a diff line
    "issues": frozenset({"labeled"}),
    "pull_request": frozenset({"opened", "synchronize", "closed", "reopened", "edited"}),
    "check_suite": frozenset({"completed"}),
    "check_run": frozenset({"requested_action", "rerequested"}),
    "merge_group": frozenset({"checks_requested"}),  # answered at once: a merge queue never waits on us
    "installation": None,
    "installation_repositories": None,
}


class WebhookRejected(Exception):
    """A delivery that must be refused with an HTTP ``status`` and a ``message`` for the sender."""

    def __init__(self, status: int, message: str):
        self.status = status
        self.message = message
        super().__init__(f"{status}: {message}")


# -- signatures -----------------------------------------------------------------------------


def sign(body: bytes, secret: str) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body`` signed with ``secret``."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def verify_signature(body: bytes, header: str | None, secrets: list[str]) -> bool:
    """Whether ``header`` signs ``body`` with one of ``secrets`` (current, then previous).

    Empty secrets are skipped, so an unset previous secret never accepts anything. Every
    candidate is compared in constant time.
    """
    if not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    try:
        presented = header.strip().lower().encode("ascii")
    except UnicodeEncodeError:
        return False
    matched = False
    for secret in secrets:
        if secret:
            matched |= hmac.compare_digest(sign(body, secret).encode("ascii"), presented)
    return matched


# -- request decoding and validation --------------------------------------------------------


def lower_headers(headers: Mapping[str, Any] | None) -> dict[str, str]:
    """Headers with lower-cased names (API Gateway HTTP API already lower-cases them)."""
    if not headers:
        return {}
    return {str(name).lower(): str(value) for name, value in headers.items() if value is not None}


def decode_body(body: str | bytes | None, is_base64_encoded: bool) -> bytes:
    """The raw bytes of an API Gateway request body (signatures are over these exact bytes)."""
    if body is None:
        return b""
    if not is_base64_encoded:
        return body.encode() if isinstance(body, str) else body
    if len(body) > MAX_BODY_BYTES * 4 // 3 + 4:
        raise WebhookRejected(413, f"the body is larger than GitHub's {MAX_BODY_BYTES} byte limit")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise WebhookRejected(400, "the body is marked base64-encoded but is not valid base64") from None


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name, "").strip()
    if not value:
        raise WebhookRejected(400, f"the {name} header is missing")
    if len(value) > MAX_HEADER_VALUE_CHARS or not value.isprintable() or not value.isascii():
        raise WebhookRejected(400, f"the {name} header is malformed")
    return value


def parse_delivery(
    headers: Mapping[str, Any] | None, body: bytes, secrets: list[str]
) -> tuple[DeliveryEnvelope, dict[str, Any]]:
    """Check a delivery in the order that does the least work for a bad one.

    Size first (413), then the signature (401: nothing of an unsigned body is read), then the
    event and delivery headers (400), then the JSON, which must be an object (400).
    """
    if len(body) > MAX_BODY_BYTES:
        raise WebhookRejected(413, f"the body is larger than GitHub's {MAX_BODY_BYTES} byte limit")
    lowered = lower_headers(headers)
    if not verify_signature(body, lowered.get(SIGNATURE_HEADER), secrets):
        raise WebhookRejected(401, f"the {SIGNATURE_HEADER} signature is missing or does not match")
    event = _header(lowered, EVENT_HEADER)
    delivery_id = _header(lowered, DELIVERY_HEADER)
    if lowered.get(CONTENT_TYPE_HEADER, "").lower().startswith("application/x-www-form-urlencoded"):
        raise WebhookRejected(415, "set the webhook's content type to application/json")
    payload = parse_payload(body)
    return DeliveryEnvelope.from_delivery(event, delivery_id, payload), payload


def _refuse_constant(name: str) -> NoReturn:
    raise WebhookRejected(400, f"the body is not valid JSON: {name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise WebhookRejected(400, f"the body is not valid JSON: the number {text[:40]} is too large")
    return value


_STRICT_JSON = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


def parse_payload(body: bytes) -> dict[str, Any]:
    """The JSON object of a delivery body (GitHub's and Linear's).

    Strict JSON, as PostgreSQL's jsonb stores it: UTF-8, no NaN or Infinity, no number too large
    for a float, no lone surrogate. Each is refused with a 400 naming it, never stored. The scan
    for surrogate escapes runs only on a body with a backslash, and is a fraction of the parse."""
    try:
        payload = _STRICT_JSON.decode(body.decode())
    except UnicodeDecodeError:
        raise WebhookRejected(400, "the body is not valid JSON: it is not UTF-8 text") from None
    except (ValueError, RecursionError):
        raise WebhookRejected(400, "the body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise WebhookRejected(400, "the body must be a JSON object")
    if b"\\" in body and _SURROGATE_ESCAPE.search(body) and _holds_lone_surrogate(payload):
        raise WebhookRejected(
            400, "the body is not valid JSON: it holds a lone surrogate escape (\\ud800 to \\udfff)"
        )
    return payload


def _holds_lone_surrogate(payload: dict[str, Any]) -> bool:
    """Whether a key or string of ``payload`` holds a surrogate no partner joined into a character."""
    try:
        json.dumps(payload, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return True
    return False


# -- the envelope ---------------------------------------------------------------------------


def _dig(data: Any, *keys: str | int) -> Any:
    """``data[k1][k2]...`` or None when any step is missing or of the wrong shape."""
    for key in keys:
        if isinstance(key, int):
            if not isinstance(data, list) or not -len(data) <= key < len(data):
                return None
        elif not isinstance(data, dict):
            return None
        data = data[key] if isinstance(key, int) else data.get(key)
    return data


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _subject_number(payload: dict[str, Any]) -> int | None:
    """The issue or pull request a delivery is about, where it names one."""
    for path in (
        ("issue", "number"),
        ("pull_request", "number"),
        ("number",),
        ("check_run", "pull_requests", 0, "number"),
        ("check_suite", "pull_requests", 0, "number"),
    ):
        number = _int(_dig(payload, *path))
        if number is not None:
            return number
    return None


@dataclass(frozen=True, kw_only=True)
class DeliveryEnvelope:
    """What the receiver needs to know about a delivery, without a typed model of the payload.

    A dataclass, not a pydantic model: the first delivery of a cold start builds one, and nothing
    on that path (verify, store, enqueue) needs pydantic, whose import is ~40 ms of it."""

    event: str
    action: str | None = None
    delivery_id: str
    installation_id: int | None = None
    repository_id: int | None = None
    repository_full_name: str | None = None
    number: int | None = None
    is_pull_request: bool = False
    sender_login: str | None = None
    sender_type: str | None = None
    group: str | None = None  # the FIFO group, when the sender names it (a Linear issue)

    @classmethod
    def from_delivery(cls, event: str, delivery_id: str, payload: dict[str, Any]) -> DeliveryEnvelope:
        is_pull_request = (
            event in ("pull_request", "pull_request_review_comment", "check_run", "check_suite")
            or _dig(payload, "issue", "pull_request") is not None
        )
        number = _subject_number(payload)
        return cls(
            event=event,
            action=_str(payload.get("action")),
            delivery_id=delivery_id,
            installation_id=_int(_dig(payload, "installation", "id")),
            repository_id=_int(_dig(payload, "repository", "id")),
            repository_full_name=_str(_dig(payload, "repository", "full_name")),
            number=number,
            is_pull_request=is_pull_request and number is not None,
            sender_login=_str(_dig(payload, "sender", "login")),
            sender_type=_str(_dig(payload, "sender", "type")),
        )

    @property
    def sender_is_bot(self) -> bool:
        return self.sender_type == "Bot" or (self.sender_login or "").endswith("[bot]")

    @property
    def message_group_id(self) -> str:
        """The SQS FIFO group: one per issue or PR, else per repository, else per installation.

        Deliveries about the same conversation are handled in order; different ones in parallel.
        SQS allows 128 characters; a repository's full name is at most 140, so long ones are
        shortened to a prefix plus a hash.
        """
        if self.group:
            group = self.group
        elif self.repository_full_name:
            group = self.repository_full_name
            if self.number is not None:
                group += f"#{self.number}"
        elif self.installation_id is not None:
            group = f"installation:{self.installation_id}"
        else:
            group = f"event:{self.event}"
        return _fit_group_id(group)


MAX_GROUP_ID_CHARS = 128


def _fit_group_id(group: str) -> str:
    # SQS accepts only printable ASCII in a group id; GitHub names already are.
    safe = "".join(ch if 33 <= ord(ch) <= 126 else "_" for ch in group)
    if len(safe) <= MAX_GROUP_ID_CHARS:
        return safe
    digest = hashlib.sha256(group.encode()).hexdigest()[:16]
    return f"{safe[: MAX_GROUP_ID_CHARS - 17]}~{digest}"


def route(envelope: DeliveryEnvelope) -> Route:
    """Whether codeloop acts on a delivery, ignores it, or answers a ping."""
    if envelope.event == "ping":
        return "ping"
    if envelope.event not in ACTED_ON:
        return "ignore"
    actions = ACTED_ON[envelope.event]
    if actions is None or envelope.action in actions:
        return "act"
    return "ignore"
