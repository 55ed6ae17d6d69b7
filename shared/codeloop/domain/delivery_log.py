"""The delivery log: which stored deliveries a caller may see, in pages, and how a replay is asked.

Pages are newest first and keyed on ``(received_at, delivery_id)``: a cursor names the last row
of a page, and the next page starts strictly after it, so deliveries that arrive while a caller
pages (they are newer than the first page) neither repeat a row nor push one out of sight.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from codeloop.domain.models import DeliveryStatus, Scope, StorableText, WebhookDelivery

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


class DeliverySource(StrEnum):
    """Who sent a delivery: GitHub, Linear or Slack."""

    GITHUB = "github"
    LINEAR = "linear"
    SLACK = "slack"


class LoggedDelivery(WebhookDelivery):
    source: DeliverySource = DeliverySource.GITHUB


class DeliveryFilter(BaseModel):
    """What a caller narrows the log to; None is no bound."""

    model_config = ConfigDict(frozen=True)

    source: DeliverySource | None = None
    event: StorableText | None = None
    action: StorableText | None = None
    repository: StorableText | None = None  # owner/name, compared case-insensitively as GitHub does
    status: DeliveryStatus | None = None
    since: datetime | None = None  # received at or after
    until: datetime | None = None  # received before

    @field_validator("since", "until")
    @classmethod
    def _utc_without_offset(cls, moment: datetime | None) -> datetime | None:
        """A time without an offset is UTC, whatever the database server's time zone."""
        return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


class BadCursor(ValueError):
    """A cursor this server did not hand out (or one mangled on the way)."""


class Cursor(BaseModel):
    """The last row of a page: the next page starts right after it."""

    model_config = ConfigDict(frozen=True)

    received_at: datetime
    delivery_id: str

    def encode(self) -> str:
        raw = json.dumps({"t": self.received_at.isoformat(), "id": self.delivery_id}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            data = json.loads(raw)
            cursor = cls(received_at=data["t"], delivery_id=data["id"])
        except (binascii.Error, ValueError, TypeError, KeyError, ValidationError):
            raise BadCursor("the cursor is not one this API handed out; start again without it") from None
        if cursor.received_at.tzinfo is None:
            raise BadCursor("the cursor is not one this API handed out; start again without it")
        return cursor

    @classmethod
    def after(cls, delivery: WebhookDelivery) -> Cursor:
        return cls(received_at=delivery.received_at, delivery_id=delivery.delivery_id)


# What a Slack request carries that lets its holder act as codeloop in the asker's Slack: post in
# their channel (response_url, response_urls: 30 minutes) or open a dialog (trigger_id). The
# worker needs them; whoever reads the delivery log does not get them.
SLACK_CAPABILITIES = frozenset({"response_url", "response_urls", "trigger_id"})


def shown_payload(delivery: LoggedDelivery, payload: dict[str, Any]) -> dict[str, Any]:
    """A stored payload as the delivery log shows it: a Slack request's capabilities left out."""
    if delivery.source != DeliverySource.SLACK:
        return payload
    return {name: value for name, value in payload.items() if name not in SLACK_CAPABILITIES}


def reaches_delivery(key: Scope, delivery: WebhookDelivery) -> bool:
    """Whether a key may see and replay a delivery: its repository is in the key's scope, or its
    installation is. A delivery about no repository (an installation event) needs the installation."""
    return (delivery.repository_id is not None and delivery.repository_id in key.repository_ids) or (
        delivery.installation_id is not None and delivery.installation_id in key.installation_ids
    )


class ReplayRequest(BaseModel):
    """What a replayed delivery's queue message carries beyond the delivery id.

    ``id`` is the replay's audit row. With ``new_task`` the commands it holds are new requests
    (a new task each); without it they are the same requests as before, so they find the tasks
    they already made.
    """

    model_config = ConfigDict(frozen=True)

    id: int
    new_task: bool = False
