"""Slack channels set by the operator, and each task's one Slack message, in PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from psycopg import Connection

from codeloop.db.queries import fetch_all, fetch_one
from codeloop.domain.slack import SlackChannel, SlackMessage

Scope = Literal["repository", "installation"]


def set_channel(conn: Connection, scope: Scope, target: str, channel: str) -> SlackChannel:
    saved = fetch_one(conn, "slack.set_channel", SlackChannel, scope=scope, target=target, channel=channel)
    assert saved is not None  # an upsert … returning always returns its row
    return saved


def clear_channel(conn: Connection, scope: Scope, target: str) -> SlackChannel | None:
    return fetch_one(conn, "slack.clear_channel", SlackChannel, scope=scope, target=target)


def all_channels(conn: Connection) -> list[SlackChannel]:
    return fetch_all(conn, "slack.list_channels", SlackChannel)


def operator_channels(conn: Connection, repository: str, installation_id: int) -> dict[str, str]:
    """The operator's channels that apply to a repository, by scope (repository, installation)."""
    rows = fetch_all(
        conn, "slack.operator_channels", SlackChannel, repository=repository, installation=installation_id
    )
    return {row.scope: row.channel for row in rows}


def get_message(conn: Connection, task_id: UUID | str) -> SlackMessage | None:
    return fetch_one(conn, "slack.get_message", SlackMessage, task_id=task_id)


def save_message(conn: Connection, task_id: UUID | str, channel: str | None, ts: str | None) -> SlackMessage:
    saved = fetch_one(conn, "slack.save_message", SlackMessage, task_id=task_id, channel=channel, ts=ts)
    assert saved is not None
    return saved


def defer_message(conn: Connection, task_id: UUID | str, channel: str, retry_at: datetime) -> SlackMessage:
    """Slack rate-limited the message: leave it alone until ``retry_at`` (its channel and ts kept)."""
    saved = fetch_one(
        conn, "slack.defer_message", SlackMessage, task_id=task_id, channel=channel, retry_at=retry_at
    )
    assert saved is not None
    return saved
