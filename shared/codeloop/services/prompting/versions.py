"""Prompt template versions in PostgreSQL: the sync from ``prompts/``, rollbacks, what selection may choose.

Versioning rules (the operator's contract):

- :func:`sync_templates` loads every shipped template. A template whose content hash (its text
  and every partial it pulls in) is new gets the next version; old versions stay, with the
  partials they were written with, so a pinned old version renders exactly as it did. Running
  it again changes nothing.
- The *active* version (``prompt_templates.active_version``; none means the latest) is what
  selection uses. ``codeloop prompts rollback <id> --to <n>`` sets it; a rollback withdraws
  every later version from selection, repository pins included (it is the operator's kill
  switch for a bad template).
- A sync changes the active version only when the template's file changed since the previous
  sync (``synced_version``): a new body becomes active (lifting a rollback), and a file reverted
  to an older body makes that older version active. An unchanged file leaves a rollback alone.
- A template whose file is gone is retired: kept (rendered prompts refer to it), not selectable.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from psycopg import Connection
from pydantic import BaseModel, ConfigDict

from codeloop.db import prompts_store
from codeloop.domain.prompts import AvailableTemplate, PromptTemplate, TemplateMeta
from codeloop.services.prompting.templates import load_templates

Outcome = Literal["created", "new_version", "switched", "unchanged", "retired"]


class TemplateSync(BaseModel):
    model_config = ConfigDict(frozen=True)

    template_id: str
    outcome: Outcome
    version: int | None = None  # the version the file matches (None for a retired template)
    active_version: int | None = None  # None: the latest
    note: str = ""


class SyncSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    templates: list[TemplateSync]

    @property
    def changed(self) -> list[TemplateSync]:
        return [t for t in self.templates if t.outcome != "unchanged"]

    def describe(self) -> str:
        counts: dict[str, int] = {}
        for item in self.templates:
            counts[item.outcome] = counts.get(item.outcome, 0) + 1
        return ", ".join(f"{count} {outcome.replace('_', ' ')}" for outcome, count in sorted(counts.items()))


class PromptVersionError(LookupError):
    """An operator asked for a template or version that does not exist."""


def sync_templates(conn: Connection, directory: Path | None = None) -> SyncSummary:
    """Bring the version store in line with the shipped templates (idempotent; one sync at a time).

    Runs in the caller's transaction; call it at deploy (after migrations) and at ``make dev``.
    """
    shipped = load_templates(directory)  # a broken template fails the sync before anything changes
    prompts_store.lock_sync(conn)
    results = [_sync_one(conn, template) for template in shipped]
    retired = prompts_store.retire_missing(conn, [t.id for t in shipped])
    results += [TemplateSync(template_id=row.id, outcome="retired") for row in retired]
    return SyncSummary(templates=results)


def _sync_one(conn: Connection, template: PromptTemplate) -> TemplateSync:
    meta = template.meta
    row = prompts_store.upsert_template(conn, meta.id, meta.description, meta.task_types, meta.complexity)
    existing = prompts_store.version_by_hash(conn, meta.id, template.sha256)
    if existing is None:
        version = prompts_store.insert_version(
            conn,
            meta.id,
            template.source,
            {"meta": meta.model_dump(mode="json"), "partials": template.partials},
            template.sha256,
        ).version
    else:
        version = existing.version
    if version == row.synced_version:
        note = f"rolled back to v{row.active_version}" if row.active_version is not None else ""
        return TemplateSync(
            template_id=meta.id,
            outcome="unchanged",
            version=version,
            active_version=row.active_version,
            note=note,
        )
    active = None if version == prompts_store.latest_version(conn, meta.id) else version
    prompts_store.set_versions(conn, meta.id, active, version)
    note = f"lifts the rollback to v{row.active_version}" if row.active_version not in (None, active) else ""
    if existing is None:
        outcome: Outcome = "created" if version == 1 else "new_version"
    else:
        outcome = "switched"  # the file now matches an earlier body: that version serves
    return TemplateSync(
        template_id=meta.id, outcome=outcome, version=version, active_version=active, note=note
    )


def rollback(conn: Connection, template_id: str, to_version: int | None, *, actor: str) -> int | None:
    """Make ``to_version`` the active version (None: follow the latest again); audited."""
    if prompts_store.get_template(conn, template_id) is None:
        raise PromptVersionError(f"no prompt template {template_id!r}")
    if to_version is not None and prompts_store.get_version(conn, template_id, to_version) is None:
        latest = prompts_store.latest_version(conn, template_id)
        raise PromptVersionError(
            f"prompt template {template_id!r} has no version {to_version} (latest: v{latest})"
        )
    return prompts_store.set_active_version(conn, template_id, to_version, actor).active_version


class TemplateCatalog:
    """The template versions selection may choose, each with the partials it was stored with."""

    def __init__(self, rows: Iterable[prompts_store.AvailableVersionRow]):
        self.available = [
            AvailableTemplate(
                template=PromptTemplate(
                    meta=TemplateMeta.model_validate(row.metadata["meta"]),
                    source=row.body,
                    partials=row.metadata["partials"],
                    sha256=row.content_hash,
                ),
                version=row.version,
                active=row.active,
            )
            for row in rows
        ]

    def serving(self, task_type: str) -> list[str]:
        """The ids of the templates that serve ``task_type``."""
        return sorted({t.template.id for t in self.available if t.template.meta.serves(task_type)})


def catalog(conn: Connection) -> TemplateCatalog:
    return TemplateCatalog(prompts_store.available_versions(conn))
