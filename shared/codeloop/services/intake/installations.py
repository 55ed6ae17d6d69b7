"""Keep the installations and repositories tables true to GitHub's installation events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from psycopg import Connection

from codeloop.db import store
from codeloop.domain.models import Installation, RepositoryRef


def _installation(payload: dict[str, Any]) -> Installation:
    data = payload["installation"]
    account = data.get("account") or {}
    suspended = data.get("suspended_at")
    return Installation(
        id=data["id"],
        account_login=account.get("login") or str(data["id"]),
        account_type=account.get("type") or "Organization",
        permissions=data.get("permissions") or {},
        suspended_at=datetime.fromisoformat(suspended) if isinstance(suspended, str) else None,
    )


def _repositories(items: Any) -> list[RepositoryRef]:
    return [
        RepositoryRef(id=item["id"], full_name=item["full_name"], private=bool(item.get("private")))
        for item in items or []
        if isinstance(item, dict) and isinstance(item.get("id"), int) and item.get("full_name")
    ]


def apply_installation_event(
    conn: Connection, event: str, action: str | None, payload: dict[str, Any]
) -> None:
    installation = _installation(payload)
    if event == "installation":
        if action == "deleted":
            store.mark_installation_deleted(conn, installation.id)
            return
        if action == "suspend":
            store.upsert_installation(conn, installation)
            store.set_installation_suspended(
                conn, installation.id, installation.suspended_at or datetime.now(UTC)
            )
            return
        if action == "unsuspend":
            installation = installation.model_copy(update={"suspended_at": None})
        store.upsert_installation(conn, installation)
        for repo in _repositories(payload.get("repositories")):
            store.upsert_repository(conn, repo, installation.id)
    elif event == "installation_repositories":
        store.upsert_installation(conn, installation)
        for repo in _repositories(payload.get("repositories_added")):
            store.upsert_repository(conn, repo, installation.id)
        for repo in _repositories(payload.get("repositories_removed")):
            store.deactivate_repository(conn, repo.id)
