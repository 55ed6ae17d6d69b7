"""What template selection learns from, for one prompt: the outcomes of tasks of the same type in
the task's complexity band by template version (everyone's and its repository's), and the versions
the task already used."""

from __future__ import annotations

import random

from psycopg import Connection

from codeloop.db import learning_store
from codeloop.domain.learning import LearningInputs, Outcomes, VersionKey, complexity_band
from codeloop.domain.models import Task
from codeloop.domain.prompt_context import spec_complexity
from codeloop.settings import get_settings


def learning_inputs(
    conn: Connection, task: Task, attempt: int, kind: str, template_ids: list[str]
) -> LearningInputs:
    """The inputs of one selection among the versions of ``template_ids`` (those serving the
    prompt's task type). The random source is seeded by the task, attempt and prompt kind, so a
    selection can be replayed from its stored reason and the outcomes of the time."""
    band = complexity_band(spec_complexity(task.complexity))
    everyone: dict[VersionKey, Outcomes] = {}
    repository: dict[VersionKey, Outcomes] = {}
    for row in learning_store.template_outcomes(conn, template_ids, task.type.value, task.repository_id):
        if complexity_band(spec_complexity(row.complexity)) != band:
            continue
        key = (row.template_id, row.version)
        counted = Outcomes(green=row.green, not_green=row.not_green)
        everyone[key] = everyone.get(key, Outcomes()) + counted
        if row.this_repository:
            repository[key] = repository.get(key, Outcomes()) + counted
    return LearningInputs(
        rng=random.Random(f"{task.id}/{attempt}/{kind}"),  # noqa: S311 - sampling, not secrecy
        policy=get_settings().learning_policy,
        everyone=everyone,
        repository=repository,
        kept=learning_store.task_versions(conn, task.id),
    )
