"""A stored webhook delivery's status, apart from the records in ``models``: the receiver's
first delivery needs the status, not the cost of building every model (a cold start)."""

from __future__ import annotations

from enum import StrEnum


class DeliveryStatus(StrEnum):
    RECEIVED = "received"  # durable, not yet on the events queue
    QUEUED = "queued"
    IGNORED = "ignored"
    PROCESSED = "processed"
    FAILED = "failed"
