"""Linear and Slack users linked to GitHub logins, in PostgreSQL.

A request from Linear or Slack acts as the linked GitHub login, under the same permission rule
as a comment on GitHub; an unlinked user is refused with a note on how to get linked.
"""

from __future__ import annotations

from psycopg import Connection

from codeloop.db.queries import fetch_all, fetch_one
from codeloop.domain.models import ExternalIdentity, IdentityProvider


def link(
    conn: Connection,
    provider: IdentityProvider,
    external_id: str,
    github_login: str,
    *,
    linked_by: str = "operator",
) -> ExternalIdentity:
    """Link (or relink) ``external_id`` to ``github_login``."""
    identity = fetch_one(
        conn,
        "identities.link_identity",
        ExternalIdentity,
        provider=provider.value,
        external_id=external_id,
        github_login=github_login,
        linked_by=linked_by,
    )
    assert identity is not None  # an upsert … returning always returns its row
    return identity


def unlink(conn: Connection, provider: IdentityProvider, external_id: str) -> ExternalIdentity | None:
    return fetch_one(
        conn, "identities.unlink_identity", ExternalIdentity, provider=provider.value, external_id=external_id
    )


def get(conn: Connection, provider: IdentityProvider, external_id: str) -> ExternalIdentity | None:
    return fetch_one(
        conn, "identities.get_identity", ExternalIdentity, provider=provider.value, external_id=external_id
    )


def all_links(conn: Connection, provider: IdentityProvider | None = None) -> list[ExternalIdentity]:
    return fetch_all(
        conn, "identities.list_identities", ExternalIdentity, provider=provider.value if provider else None
    )
