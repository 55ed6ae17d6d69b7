"""Logging and metrics shared by every handler: Powertools Logger (JSON) and Metrics (EMF).

The correlation id follows one piece of work — a webhook delivery, then the task it created,
its workflow execution and each step — so one search finds every line about it. Nothing here
logs an event or a payload by default. Tracer is left out: its X-Ray import costs ~400 ms of
cold start for little gain in these short handlers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="codeloop")
# The service dimension is explicit so that every metric has the same dimension set wherever it
# runs: the alarms in template.yaml name exactly (namespace codeloop, service=codeloop).
metrics = Metrics(namespace="codeloop", service="codeloop")

LambdaHandler = Callable[[Any, Any], Any]


def bind(correlation_id: str | None = None, **keys: object) -> None:
    """Attach a correlation id and context keys (task_id, step, attempt…) to this message's log lines.

    The keys are Powertools' thread-safe (thread-local) keys: the local stack handles messages
    on several threads at once, and one thread's keys must never reach another's lines.
    """
    fields = {key: str(value) for key, value in keys.items() if value is not None}
    if correlation_id:
        fields["correlation_id"] = correlation_id
    if fields:
        logger.thread_safe_append_keys(**fields)


def forget_bound_keys() -> None:
    """Drop what :func:`bind` attached for the previous message or invocation.

    A warm Lambda, and a local stack's thread, keep the logger's keys from one message to the
    next; every invocation and every message starts here so it logs only its own ids.
    """
    logger.thread_safe_clear_keys()


def lambda_entry(handler: LambdaHandler) -> LambdaHandler:
    """Every Lambda handler: starts with no keys of the previous invocation, flushes its metrics."""

    @functools.wraps(handler)
    def start_clean(event: Any, context: Any) -> Any:
        forget_bound_keys()
        return handler(event, context)

    return metrics.log_metrics(start_clean)


# The dimensions of the GenAI metrics: which kind of call, to whom, for which model.
GEN_AI_DIMENSIONS = ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model")
GEN_AI_METRICS = (
    ("gen_ai.usage.input_tokens", "GenAIInputTokens", "Count"),
    ("gen_ai.usage.output_tokens", "GenAIOutputTokens", "Count"),
    ("codeloop.cost.usd", "GenAICostUSD", "None"),
    ("codeloop.duration.seconds", "GenAICallSeconds", "Seconds"),
)


def emit_gen_ai_metrics(attributes: dict[str, Any]) -> None:
    """One model or agent call as EMF metrics, dimensioned by operation, provider and model, with
    its other GenAI attributes as properties.

    Written at once, apart from the handler's own metrics (whose dimension set the alarms name).
    A value the call did not report (tokens, an unpriced cost) is not emitted.
    """
    from aws_lambda_powertools.metrics import single_metric

    dimensions = {key: str(attributes.get(key) or "unknown") for key in GEN_AI_DIMENSIONS}
    # The call's other GenAI attributes (gen_ai.prompt.name, the token counts, codeloop.cost.usd)
    # ride along as the record's properties, under their OpenTelemetry names, for any pipeline.
    properties = {key: value for key, value in attributes.items() if key not in dimensions and value is not None}
    for attribute, name, unit in GEN_AI_METRICS:
        value = attributes.get(attribute)
        if value is None:
            continue
        with single_metric(
            name=name, unit=unit, value=value, namespace="codeloop", default_dimensions=dimensions
        ) as metric:
            for key, property_value in properties.items():
                metric.add_metadata(key=key, value=property_value)
