"""What template selection learns from, for one task: the outcomes of its type and complexity
band by version (everyone's and its repository's), and the version it started with."""

from __future__ import annotations

import random

from psycopg import Connection

from codeloop.db import learning_store
from codeloop.domain.learning import LearningInputs, Outcomes, VersionKey, complexity_band
from codeloop.domain.models import Task
from codeloop.settings import get_settings


def learning_inputs(conn: Connection, task: Task, attempt: int, kind: str) -> LearningInputs:
    """The inputs of one selection. The random source is seeded by the task, attempt and prompt
    kind, so a selection can be replayed from its stored reason and the outcomes of the time."""
    band = complexity_band(task.complexity)
    everyone: dict[VersionKey, Outcomes] = {}
    repository: dict[VersionKey, Outcomes] = {}
    for row in learning_store.template_outcomes(conn, str(task.type), task.repository_id):
        if complexity_band(row.complexity) != band:
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
        started_with=learning_store.task_first_version(conn, task.id),
    )
