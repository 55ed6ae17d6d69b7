"""The validation runner's side: run a prepared request and send the report back.

It uses only the sandbox, the checkout and result parsing: no database, no GitHub API, no secret
of its own. The request carries everything (``codeloop.domain.validation_request``); the report
goes to the status queue (one FIFO group per task), where the status syncer concludes the step.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from codeloop.adapters import queues, sandbox, workflows
from codeloop.domain.repo_config import RepoConfig
from codeloop.domain.validation_request import ValidationRequest, ValidationResult, fit_report
from codeloop.observability import logger, metrics
from codeloop.services.validation.run import RunLimits, run_validation
from codeloop.settings import get_settings


def run_request(request: ValidationRequest, remaining_millis: Callable[[], int] | None = None) -> None:
    """Validate the request's head commit and send the report to the status syncer."""
    job = request.job
    config = RepoConfig(validation=request.validation)
    report = run_validation(
        clone_url=request.clone_url,
        head_sha=job.head_sha,
        token=request.token.get_secret_value(),
        config=config,
        is_fork=False,  # decided upstream: a fork that may not run never reaches the runner
        changed_paths=set(request.changed_paths),
        limits=RunLimits.for_config(config, budget_seconds(remaining_millis)),
        heartbeat=lambda: heartbeat(job.task_token),
        user=sandbox.command_user(get_settings().validation_user),
    )
    result = ValidationResult(job=job, report=fit_report(report))
    queues.send(
        str(get_settings().require("status_queue_url")),
        result.model_dump(mode="json"),
        group_id=job.task_id,
        dedup_id=uuid.uuid4().hex,
    )
    logger.info("validation reported", extra={"verdict": report.verdict})
    metrics.add_metric(name="ValidationReported", unit="Count", value=1)


def budget_seconds(remaining_millis: Callable[[], int] | None) -> float:
    """The time a validation may take: the Lambda's remaining time minus a margin to report."""
    settings = get_settings()
    if remaining_millis is None:
        return settings.validation_budget_seconds
    return remaining_millis() / 1000 - settings.validation_report_margin_seconds


def heartbeat(task_token: str) -> None:
    """Tell Step Functions the step is alive; a failure here must not stop the commands."""
    try:
        workflows.send_heartbeat(task_token)
    except Exception as exc:  # logged; the report is what matters
        logger.warning("heartbeat not sent", extra={"error": workflows.error_code(exc) or type(exc).__name__})
