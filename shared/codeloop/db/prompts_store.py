"""Data access for the prompt builder: template versions, rendered prompts, what earlier attempts left."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Connection
from pydantic import BaseModel, ConfigDict

from codeloop.db.queries import fetch_all, fetch_one, json_params, query


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class PromptTemplateRow(_Record):
    id: str
    description: str
    task_types: list[str]
    complexity_min: int
    complexity_max: int
    active_version: int | None
    synced_version: int | None
    retired_at: datetime | None
    created_at: datetime
    updated_at: datetime


class PromptTemplateSummary(PromptTemplateRow):
    versions: int
    latest_version: int


class PromptVersionRow(_Record):
    template_id: str
    version: int
    body: str
    metadata: dict[str, Any]
    content_hash: str
    created_at: datetime


class AvailableVersionRow(PromptVersionRow):
    active: bool  # the template's explicitly active version (a rollback): it serves alone


class RenderedPromptRow(_Record):
    id: UUID
    task_id: UUID
    attempt: int
    kind: str
    template_id: str
    template_version: int
    template_sha256: str | None
    selection_reason: str
    body: str
    context_manifest: Any
    size_chars: int
    context_chars: int
    context_budget: int | None
    task_chars: int | None
    sha256: str
    gathering: list[dict[str, Any]]
    created_at: datetime


class AttemptRow(_Record):
    attempt: int
    codegen_status: str | None
    codegen_summary: str | None
    codegen_error: str | None
    pull_requests: Any
    web_url: str | None
    validation_status: str | None
    validation_summary: str | None


# -- template versions ---------------------------------------------------------------------------


def lock_sync(conn: Connection) -> None:
    conn.execute(query("lock_prompt_sync"))


def templates(conn: Connection) -> list[PromptTemplateRow]:
    return fetch_all(conn, "prompt_templates", PromptTemplateRow)


def get_template(conn: Connection, template_id: str) -> PromptTemplateRow | None:
    return fetch_one(conn, "get_prompt_template", PromptTemplateRow, id=template_id)


def upsert_template(
    conn: Connection, template_id: str, description: str, task_types: list[str], complexity: tuple[int, int]
) -> PromptTemplateRow:
    row = conn.execute(
        query("upsert_prompt_template"),
        {
            "id": template_id,
            "description": description,
            "task_types": task_types,  # text[]: a Python list, not jsonb
            "complexity_min": complexity[0],
            "complexity_max": complexity[1],
        },
    ).fetchone()
    return PromptTemplateRow.model_validate(row)


def version_by_hash(conn: Connection, template_id: str, content_hash: str) -> PromptVersionRow | None:
    return fetch_one(
        conn, "prompt_version_by_hash", PromptVersionRow, template_id=template_id, content_hash=content_hash
    )


def insert_version(
    conn: Connection, template_id: str, body: str, metadata: dict[str, Any], content_hash: str
) -> PromptVersionRow:
    row = fetch_one(
        conn,
        "insert_prompt_version",
        PromptVersionRow,
        template_id=template_id,
        body=body,
        metadata=metadata,
        content_hash=content_hash,
    )
    assert row is not None  # an insert … returning always returns
    return row


def latest_version(conn: Connection, template_id: str) -> int:
    return conn.execute(query("latest_prompt_version"), {"template_id": template_id}).fetchone()["version"]


def set_versions(
    conn: Connection, template_id: str, active_version: int | None, synced_version: int | None
) -> None:
    conn.execute(
        query("set_prompt_template_versions"),
        {"id": template_id, "active_version": active_version, "synced_version": synced_version},
    )


def retire_missing(conn: Connection, current_ids: list[str]) -> list[PromptTemplateRow]:
    return [
        PromptTemplateRow.model_validate(row)
        for row in conn.execute(query("retire_prompt_templates"), {"current_ids": current_ids}).fetchall()
    ]


def get_version(conn: Connection, template_id: str, version: int) -> PromptVersionRow | None:
    return fetch_one(conn, "prompt_version", PromptVersionRow, template_id=template_id, version=version)


def set_active_version(
    conn: Connection, template_id: str, version: int | None, actor: str
) -> PromptTemplateRow:
    """Point the template at ``version`` (None: follow the latest) and audit who did it."""
    before = get_template(conn, template_id)
    after = fetch_one(
        conn, "set_prompt_active_version", PromptTemplateRow, id=template_id, active_version=version
    )
    assert before is not None and after is not None
    conn.execute(
        query("audit_prompt_rollback"),
        json_params(
            {
                "id": template_id,
                "old_values": {"active_version": before.active_version},
                "new_values": {"active_version": version},
                "actor": actor,
            }
        ),
    )
    return after


def summaries(conn: Connection) -> list[PromptTemplateSummary]:
    return fetch_all(conn, "prompt_template_summaries", PromptTemplateSummary)


def available_versions(conn: Connection) -> list[AvailableVersionRow]:
    return fetch_all(conn, "available_prompt_versions", AvailableVersionRow)


# -- rendered prompts ----------------------------------------------------------------------------


def insert_rendered(conn: Connection, **fields: Any) -> RenderedPromptRow:
    row = fetch_one(conn, "insert_rendered_prompt", RenderedPromptRow, **fields)
    assert row is not None
    return row


def rendered_for_attempt(
    conn: Connection, task_id: UUID | str, attempt: int, kind: str
) -> RenderedPromptRow | None:
    return fetch_one(
        conn, "rendered_prompt_for_attempt", RenderedPromptRow, task_id=task_id, attempt=attempt, kind=kind
    )


def get_rendered(conn: Connection, prompt_id: UUID | str) -> RenderedPromptRow | None:
    return fetch_one(conn, "rendered_prompt_by_id", RenderedPromptRow, id=prompt_id)


# -- what earlier attempts left ------------------------------------------------------------------


def earlier_attempts(conn: Connection, task_id: UUID | str, attempt: int) -> list[AttemptRow]:
    return fetch_all(conn, "earlier_attempts", AttemptRow, task_id=task_id, attempt=attempt)
