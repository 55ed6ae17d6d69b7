"""What each dashboard page shows, read through the same store functions as the task API (the
task's JSON of ``GET /api/v1/tasks/{id}``, the delivery log's pages, the stats figures), and the
actions its forms ask for. Nothing here renders HTML.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from codeloop.db import dashboard_store, deliveries_store, dispatch_store, outcome_stats, stats_store, store
from codeloop.db.pool import transaction
from codeloop.domain.costs import STATS_PERIOD
from codeloop.domain.dashboard import (
    PAGE_SIZE,
    Point,
    Series,
    Session,
    TaskCursor,
    TaskFilter,
    bar_chart,
    legend,
    line_chart,
)
from codeloop.domain.delivery_log import Cursor, DeliveryFilter, LoggedDelivery
from codeloop.domain.models import Repository
from codeloop.observability import logger
from codeloop.services.dashboard.access import may_act, shows_actions
from codeloop.settings import get_settings


class NotVisible(LookupError):
    """No such thing, or one outside the session's reach: the page is a 404 either way."""


class Forbidden(PermissionError):
    """The session sees it but may not act on it (the rule of commands that start work)."""


# -- tasks --------------------------------------------------------------------------------------


def tasks_page(session: Session, where: TaskFilter, after: TaskCursor | None) -> dict[str, Any]:
    with transaction() as conn:  # one row more than the page says whether another page follows
        rows = dashboard_store.task_page(conn, where, scope=session.scope, limit=PAGE_SIZE + 1, after=after)
        repositories = dashboard_store.repositories(conn, session.scope)
    shown = rows[:PAGE_SIZE]
    last = shown[-1] if len(rows) > PAGE_SIZE else None
    return {
        "tasks": shown,
        "next_cursor": TaskCursor(created_at=last.created_at, id=last.id).encode() if last else None,
        "repositories": [repo.full_name for repo in repositories],
    }


def _visible_repository(session: Session, task_id: UUID | str) -> Repository:
    with transaction() as conn:
        task = store.get_task(conn, task_id)
        repository = store.get_repository(conn, task.repository_id) if task else None
    if repository is None or not session.reaches(repository.id):
        raise NotVisible(str(task_id))
    return repository


def task_page(session: Session, task_id: UUID | str) -> dict[str, Any]:
    """A task as the API describes it (cost included once recorded), its attempts as the report
    sees them, and each attempt's prompts."""
    from codeloop.services.reporting.publisher import build_view
    from codeloop.services.tasks import actions as tasks

    repository = _visible_repository(session, task_id)
    described = tasks.describe(task_id)
    if described is None:
        raise NotVisible(str(task_id))
    with transaction() as conn:
        task = store.require_task(conn, task_id)
        prompts = dashboard_store.attempt_prompts(conn, task.id)
    view = build_view(task, repository)
    steps_by_attempt: dict[int, list[Any]] = {}
    for step in view.steps:
        steps_by_attempt.setdefault(step.attempt, []).append(step)
    return {
        "described": described,
        "task": task,
        "view": view,
        "repository": repository,
        "prompts": {number: [p for p in prompts if p.attempt == number] for number in range(task.attempt + 1)},
        "spans": {
            number: (max(s.finished_at or s.started_at for s in steps) - min(s.started_at for s in steps)).total_seconds()
            for number, steps in steps_by_attempt.items()
        },
        "cost": described.get("cost"),
        "may_act": shows_actions(session, repository.id),
    }


def act_on_task(session: Session, task_id: UUID | str, action: str) -> None:
    """Retry or cancel, as the task API and the commands do; TaskConflict when the state forbids it."""
    from codeloop.services.intake.requests import over_budget_text
    from codeloop.services.reporting.publisher import publish_task
    from codeloop.services.tasks import actions as tasks

    repository = _visible_repository(session, task_id)
    if not may_act(session, repository):
        raise Forbidden(f"you need the repository's permission for commands that start work to {action}")
    if refusal := over_budget_text(action, repository.installation_id or 0, session.actor):
        raise Forbidden(refusal)
    if action == "retry":
        task = tasks.retry(task_id, actor=session.actor)
    else:
        task = tasks.cancel(task_id, actor=session.actor, reason=f"cancelled by {session.actor} (dashboard)")
    logger.info("dashboard action", extra={"task_id": str(task.id), "action": action})
    try:
        publish_task(str(task.id))
    except Exception:  # GitHub's view catches up at the next step's publish
        logger.exception("dashboard: publishing the task failed")


# -- deliveries ---------------------------------------------------------------------------------


def deliveries_page(session: Session, where: DeliveryFilter, after: Cursor | None) -> dict[str, Any]:
    with transaction() as conn:
        rows = deliveries_store.page(conn, where, scope=session.scope, limit=PAGE_SIZE + 1, after=after)
    shown = rows[:PAGE_SIZE]
    return {
        "deliveries": shown,
        "next_cursor": Cursor.after(shown[-1]).encode() if len(rows) > PAGE_SIZE else None,
        "may_replay": {d.delivery_id: _may_replay(session, d) for d in shown},
    }


def _may_replay(session: Session, delivery: LoggedDelivery) -> bool:
    return session.operator or (delivery.repository_id is not None and shows_actions(session, delivery.repository_id))


def replay(session: Session, delivery_id: str) -> str:
    from codeloop.services.intake.replay import replay_delivery

    with transaction() as conn:
        delivery = deliveries_store.get(conn, delivery_id)
        repository = (
            store.get_repository(conn, delivery.repository_id) if delivery and delivery.repository_id else None
        )
    if delivery is None or not (session.operator or (repository and session.reaches(repository.id))):
        raise NotVisible(delivery_id)
    if not may_act(session, repository):
        raise Forbidden("you need the repository's permission for commands that start work to replay")
    outcome = replay_delivery(delivery_id, actor=session.actor, scope=session.scope)
    if outcome is None:
        raise NotVisible(delivery_id)
    return outcome.status


# -- stats --------------------------------------------------------------------------------------


def _day(moment: datetime) -> str:
    return moment.strftime("%m-%d")


def stats_page(session: Session) -> dict[str, Any]:
    """The figures of the tasks requested in the last ``STATS_PERIOD``, read as ``GET /api/v1/stats``
    reads its outcomes (an ended task's stored figures): a page over every task ever would slow
    down as the table grows."""
    scope = session.scope
    now = datetime.now(UTC)
    since = now - STATS_PERIOD
    with transaction() as conn:
        outcomes = outcome_stats.collect(conn, since, now, None, scope)
        green = stats_store.figures(conn, "dashboard.green_rate_by_day", None, scope, since=since)
        charts = stats_store.figures(conn, "dashboard.period_charts", None, scope, since=since)
    by_series: dict[str, list[Point]] = {}
    for row in green:
        by_series.setdefault(row["series"], []).append(
            Point(label=_day(row["day"]), value=round(100 * row["passed"] / row["validated"], 1))
        )
    series = [Series(name=name, points=points) for name, points in sorted(by_series.items())]
    to_green = [r for r in charts if r["group_by"] == "green_day" and r["day"] is not None]
    cost = [r for r in charts if r["group_by"] == "created_day" and r["usd_per_green"] is not None]
    attempts = [r for r in charts if r["group_by"] == "attempts" and r["attempts"] > 0]
    return {
        "since": since,
        "outcomes": outcomes.total,
        "templates": outcomes.by_template,
        "green_chart": line_chart("Green rate per template version, by day (%)", series, top=100, unit="%"),
        "green_legend": legend(series),
        "green_rows": green,
        "time_chart": bar_chart(
            "Median time to green, by day (minutes)",
            [Point(label=_day(r["day"]), value=float(r["p50_seconds"]) / 60) for r in to_green],
            unit=" min",
        ),
        "time_rows": to_green,
        "cost_chart": bar_chart(
            "Cost per green pull request, by day requested (USD)",
            [Point(label=_day(r["day"]), value=float(r["usd_per_green"])) for r in cost],
            unit=" USD",
        ),
        "cost_rows": cost,
        "attempts_chart": bar_chart(
            "Tasks by number of attempts", [Point(label=str(r["attempts"]), value=r["tasks"]) for r in attempts]
        ),
    }


# -- health -------------------------------------------------------------------------------------

QUEUES = ("events", "status", "prompt", "codegen", "validation", "validation_runner")


def health_page(session: Session) -> dict[str, Any]:
    """The providers' breakers (whether each takes calls) and the session's oldest waiting task; for
    an operator also the figures that count every installation's work (the breakers' failure
    counts, rate windows, queue depths, the sweeper's work), which a user of one installation has
    no business seeing."""
    from codeloop.domain.breaker import may_admit
    from codeloop.services.agents.providers import RATE_WINDOW, breaker_policy, runs_per_window

    settings = get_settings()
    now = datetime.now(UTC)
    policy = breaker_policy()
    with transaction() as conn:
        breakers = [dispatch_store.get_breaker(conn, provider) for provider in settings.providers]
        oldest = dashboard_store.oldest_waiting_task(conn, session.scope)
        windows = [
            {"provider": p, "taken": dashboard_store.rate_window(conn, p, RATE_WINDOW.total_seconds()), "limit": limit}
            for p in (settings.providers if session.operator else [])
            if (limit := runs_per_window(p)) is not None
        ]
        swept = dashboard_store.sweeper_work(conn) if session.operator else []
    return {
        "breakers": [
            {
                "provider": b.provider,
                "state": b.state.value,
                "opened_at": b.opened_at,
                "admits": may_admit(b, now, policy),
                "failures": b.failures if session.operator else None,
            }
            for b in breakers
        ],
        "windows": windows,
        "window_seconds": RATE_WINDOW.total_seconds(),
        "queues": _queue_depths() if session.operator else [],
        "oldest": oldest,
        "oldest_age": (now - oldest.updated_at).total_seconds() if oldest else None,
        "swept": swept,
        "operator": session.operator,
    }


def _queue_depths() -> list[dict[str, Any]]:
    from codeloop.adapters import queues

    settings = get_settings()
    depths = []
    for name in QUEUES:
        url = getattr(settings, f"{name}_queue_url", None)
        if not url:
            continue
        try:
            depths.append({"queue": name, **queues.depths(url)})
        except Exception as exc:  # a queue the front may not read is shown as unknown, not a 500
            logger.warning("dashboard: queue unreadable", extra={"queue": name, "error": type(exc).__name__})
            depths.append({"queue": name, "waiting": None, "in_flight": None, "dead_letters": None})
    return depths
