"""Recording calls: price them, store them, and log and emit them as GenAI telemetry."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from codeloop.db import costs_store, prompts_store
from codeloop.db.dispatch_store import CodegenRun
from codeloop.db.pool import transaction
from codeloop.domain.costs import Charge, Usage, gen_ai_attributes, price_of
from codeloop.observability import emit_gen_ai_metrics, logger
from codeloop.settings import get_settings


def record(charge: Charge, usage: Usage, conn: Any = None) -> Decimal | None:
    """Price ``usage``, store it against ``charge`` (in ``conn``'s transaction when given) and
    log and emit it; returns its cost (None: unpriced). A call already stored is not told twice."""
    cost = price_of(get_settings().model_prices, usage)
    if conn is None:
        with transaction() as own:
            stored = costs_store.record_usage(own, charge, usage, cost)
    else:
        stored = costs_store.record_usage(conn, charge, usage, cost)
    if stored is None:
        return cost
    attributes = gen_ai_attributes(usage, charge.prompt_name, cost)
    logger.info(
        "gen_ai call",
        extra={**attributes, "task_id": charge.task_id, "attempt": charge.attempt},
    )
    emit_gen_ai_metrics(attributes)
    return cost


def record_agent_run(conn: Any, run: CodegenRun, ended_at: datetime | None = None) -> None:
    """An agent run that ended (answered with a PR or a failure): what its API reports, and its duration.

    The Codegen API reports no tokens and no cost: they stay unreported (null), and the run is
    priced only when the price table gives the agent a price per minute.
    """
    if run.external_id is None:
        return
    ended_at = ended_at or datetime.now(UTC)
    duration = max((ended_at - run.created_at).total_seconds(), 0.0)
    prompt = prompts_store.get_rendered(conn, run.prompt_id) if run.prompt_id else None
    record(
        Charge(task_id=str(run.task_id), attempt=run.attempt, prompt_name=prompt_name(prompt)),
        Usage(
            operation="invoke_agent",
            provider=run.provider,
            duration_seconds=duration,
            external_id=run.external_id,
        ),
        conn,
    )


def prompt_name(prompt: Any) -> str | None:
    """``template@version`` of a rendered prompt (gen_ai.prompt.name)."""
    if prompt is None:
        return None
    return f"{prompt.template_id}@{prompt.template_version}"
