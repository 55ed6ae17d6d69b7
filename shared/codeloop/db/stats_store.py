"""The figures of ``GET /api/v1/stats``, computed in PostgreSQL (see ``sql/queries/stats.sql``).

Every function takes ``repository`` (``owner/name``, or None for every repository) and
``scope``: an API key whose installations and repositories bound the figures (None: no bound).
"""

from __future__ import annotations

from typing import Any

from psycopg import Connection
from pydantic import BaseModel, ConfigDict, Field

from codeloop.db.queries import query
from codeloop.domain.learning import Outcomes, QualityScore, quality_score
from codeloop.domain.models import Scope


class _Figures(BaseModel):
    model_config = ConfigDict(frozen=True)


class TemplateSuccess(_Figures):
    """Per attempt: how often one template version's prompts passed validation (the prompt
    quality score, per task outcome with its interval, is :class:`PromptQuality`)."""

    template_id: str
    template_version: int
    attempts: int  # attempts whose prompt came from this version
    validated: int  # of those, attempts whose validation gave a verdict on the code (passed or failed)
    passed: int
    success_rate: float | None  # passed / validated


class PromptQuality(QualityScore):
    """The prompt quality score of one template version: its posterior mean on "green within
    budget" with a 95 % interval, over the tasks that count (``task_outcomes``)."""

    template_id: str
    version: int


class Percentiles(_Figures):
    count: int  # tasks that got there
    p50: float | None
    p90: float | None


class LeadTimes(_Figures):
    to_pull_request: Percentiles
    to_green: Percentiles


class StepErrors(_Figures):
    step: str
    finished: int
    failed: int
    error_rate: float | None


class Retries(_Figures):
    retried: int  # tasks started over at least once
    completed: int  # of those, tasks that then completed
    success_rate: float | None


class AttemptsPerTask(_Figures):
    tasks: int  # tasks that started at least one attempt
    mean: float | None
    max: int | None


class Stats(_Figures):
    repository: str | None
    tasks: int
    tasks_by_status: dict[str, int] = Field(default_factory=dict)
    templates: list[TemplateSuccess]
    seconds: LeadTimes
    steps: list[StepErrors]
    retries: Retries
    attempts_per_task: AttemptsPerTask
    prompt_quality: list[PromptQuality] = Field(default_factory=list)


def counted_repositories(conn: Connection, repository: str | None, scope: Scope | None) -> list[int]:
    """The ids of the repositories that count: ``repository`` (or all), within ``scope``."""
    (counted,) = conn.execute(
        query("stats_counted_repositories"),
        {
            "repository": repository,
            "installation_ids": scope.installation_ids if scope else None,
            "repository_ids": scope.repository_ids if scope else None,
        },
    ).fetchall()
    return counted["ids"]


def _rows(
    conn: Connection, name: str, repository: str | None, scope: Scope | None, **params: Any
) -> list[dict[str, Any]]:
    """Query ``name`` over the repositories that count: ``repository`` (or all), within ``scope``;
    ``params`` are the query's other parameters."""
    return conn.execute(
        query(name), {"counted": counted_repositories(conn, repository, scope), **params}
    ).fetchall()


def template_success(
    conn: Connection, repository: str | None = None, scope: Scope | None = None
) -> list[TemplateSuccess]:
    return [
        TemplateSuccess.model_validate(row)
        for row in _rows(conn, "stats_template_success", repository, scope)
    ]


def prompt_quality(
    conn: Connection, repository: str | None = None, scope: Scope | None = None
) -> list[PromptQuality]:
    return [
        PromptQuality(
            template_id=row["template_id"],
            version=row["version"],
            **quality_score(Outcomes(green=row["green"], not_green=row["not_green"])).model_dump(),
        )
        for row in _rows(conn, "prompt_quality", repository, scope)
    ]


def lead_times(conn: Connection, repository: str | None = None, scope: Scope | None = None) -> LeadTimes:
    (row,) = _rows(conn, "stats_lead_times", repository, scope)
    return LeadTimes(
        to_pull_request=Percentiles(count=row["pr_count"], p50=row["pr_p50"], p90=row["pr_p90"]),
        to_green=Percentiles(count=row["green_count"], p50=row["green_p50"], p90=row["green_p90"]),
    )


def step_errors(
    conn: Connection, repository: str | None = None, scope: Scope | None = None
) -> list[StepErrors]:
    return [StepErrors.model_validate(row) for row in _rows(conn, "stats_step_errors", repository, scope)]


def collect(conn: Connection, repository: str | None = None, scope: Scope | None = None) -> Stats:
    """Every figure, for one repository or for all (within ``scope``)."""
    (tasks,) = _rows(conn, "stats_tasks", repository, scope)
    return Stats(
        repository=repository,
        tasks=tasks["total"],
        tasks_by_status=tasks["by_status"],
        templates=template_success(conn, repository, scope),
        seconds=lead_times(conn, repository, scope),
        steps=step_errors(conn, repository, scope),
        retries=Retries(
            retried=tasks["retried"],
            completed=tasks["retried_completed"],
            success_rate=tasks["retry_success_rate"],
        ),
        attempts_per_task=AttemptsPerTask(
            tasks=tasks["started"], mean=tasks["attempts_mean"], max=tasks["attempts_max"]
        ),
        prompt_quality=prompt_quality(conn, repository, scope),
    )


def figures(
    conn: Connection, name: str, repository: str | None = None, scope: Scope | None = None, **params: Any
) -> list[dict[str, Any]]:
    """Any named query over the repositories that count (the dashboard's charts read through it)."""
    return _rows(conn, name, repository, scope, **params)
