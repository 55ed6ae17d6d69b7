"""Logging and metrics shared by every handler: Powertools Logger (JSON) and Metrics (EMF).

The correlation id follows one piece of work — a webhook delivery, then the task it created,
its workflow execution and each step — so one search finds every line about it. Nothing here
logs an event or a payload by default. Tracer is left out: its X-Ray import costs ~400 ms of
cold start for little gain in these short handlers.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="codeloop")
# The service dimension is explicit so that every metric has the same dimension set wherever it
# runs: the alarms in template.yaml name exactly (namespace codeloop, service=codeloop).
metrics = Metrics(namespace="codeloop", service="codeloop")


def bind(correlation_id: str | None = None, **keys: object) -> None:
    """Attach a correlation id and context keys (task_id, step, attempt…) to every later log line."""
    if correlation_id:
        logger.set_correlation_id(correlation_id)
    if keys:
        logger.append_keys(**{k: str(v) for k, v in keys.items() if v is not None})
