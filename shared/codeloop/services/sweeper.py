"""The sweeper, run on a schedule: nothing accepted is lost, nothing stuck stays stuck.

- deliveries stored but never queued (the enqueue failed) are queued again;
- failed webhook deliveries on GitHub's side (codeloop was down) are redelivered;
- queued tasks whose workflow never started are started (the execution name makes it harmless),
  except batch tasks still waiting for their turn in the batch machine;
- executions that ended without telling us (timed out, aborted outside codeloop) end their task
  visibly;
- agent runs and validations waiting past their deadline are ended or resumed by their owners;
- bookkeeping that no longer serves is deleted: replies to strangers' comments and limit notices
  older than the command rate window, expired dashboard sessions, spent or expired login links.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from codeloop.db import store
from codeloop.db.pool import transaction
from codeloop.domain.delivery_log import ReplayRequest
from codeloop.domain.lifecycle import ALLOWED, TaskStatus
from codeloop.domain.models import DeliveryStatus, StuckDelivery, WebhookDelivery
from codeloop.domain.webhooks import DeliveryEnvelope
from codeloop.observability import logger
from codeloop.settings import SettingsError, get_settings

STUCK_DELIVERY_SECONDS = 60
# Past SQS FIFO's five-minute deduplication window, so a second send is not dropped as a duplicate.
UNSENT_DELIVERY_SECONDS = 15 * 60
UNLAUNCHED_TASK_SECONDS = 60
EXECUTION_CHECK_SECONDS = 300
REDELIVERY_WINDOW = timedelta(hours=6)


def sweep(now: datetime | None = None) -> dict[str, Any]:
    """One pass; each part runs even when another fails, and reports what it did."""
    now = now or datetime.now(UTC)
    summary: dict[str, Any] = {}
    for name, part in (
        ("requeued_deliveries", requeue_stuck_deliveries),
        ("redelivered", redeliver_failed_github_deliveries),
        ("launched_tasks", launch_unlaunched_tasks),
        ("ended_executions", end_silent_executions),
        ("codegen", _owned("codeloop.services.agents.runs", "sweep_codegen_runs")),
        ("validation", _owned("codeloop.services.validation.step", "sweep_waiting_validations")),
        ("pruned_intake", _owned("codeloop.services.intake.limits", "prune")),
        ("pruned_dashboard", _owned("codeloop.services.dashboard.access", "prune")),
    ):
        try:
            summary[name] = part(now)
        except SettingsError as missing:
            summary[name] = f"skipped: {missing}"
        except Exception as exc:  # one failing part must not stop the others
            logger.exception("sweeper part failed", extra={"part": name})
            summary[name] = f"failed: {type(exc).__name__}"
    logger.info("sweep done", extra={"summary": summary})
    return summary


def _owned(module: str, function: str):
    """A sweep step that another part of the package owns (imported when it runs)."""

    def run(now: datetime) -> Any:
        import importlib

        return getattr(importlib.import_module(module), function)(now)

    return run


def requeue_stuck_deliveries(now: datetime) -> int:
    """Send again what was stored but never sent: 'received' after a failed send, or 'queued' and
    unprocessed long after (the receiver may have stopped between its insert and its send)."""
    from codeloop.services.intake.receiver import enqueue_delivery, send_delivery

    with transaction() as conn:
        stuck = store.stuck_deliveries(conn, older_than_seconds=STUCK_DELIVERY_SECONDS)
        unsent = store.claim_unsent_deliveries(conn, older_than_seconds=UNSENT_DELIVERY_SECONDS)
    return sum(enqueue_delivery(_envelope(delivery), _pending_replay(delivery)) for delivery in stuck) + sum(
        send_delivery(_envelope(delivery)) for delivery in unsent
    )


def _pending_replay(delivery: StuckDelivery) -> ReplayRequest | None:
    """The replay whose send failed: its message carries what it asked (a new task or not)."""
    if delivery.replay_id is None:
        return None
    return ReplayRequest(id=delivery.replay_id, new_task=delivery.replay_new_task)


def _envelope(delivery: WebhookDelivery) -> DeliveryEnvelope:
    return DeliveryEnvelope(
        event=delivery.event,
        action=delivery.action,
        delivery_id=delivery.delivery_id,
        installation_id=delivery.installation_id,
        repository_id=delivery.repository_id,
        repository_full_name=delivery.repository_full_name,
    )


def redeliver_failed_github_deliveries(now: datetime) -> int:
    """Ask GitHub to redeliver deliveries that failed on its side and that we never stored."""
    from codeloop.adapters import github

    if get_settings().github_app_id is None:
        return 0
    deliveries = github.list_hook_deliveries(since=now - REDELIVERY_WINDOW)
    redelivered_guids = {d.guid for d in deliveries if d.redelivery and 200 <= d.status_code < 300}
    asked = 0
    with transaction() as conn:
        for delivery in deliveries:
            if 200 <= delivery.status_code < 300 or delivery.redelivery or delivery.guid in redelivered_guids:
                continue
            if store.get_delivery(conn, delivery.guid) is not None:
                continue
            github.redeliver_hook_delivery(delivery.id)
            asked += 1
    return asked


def launch_unlaunched_tasks(now: datetime) -> int:
    from codeloop.services.tasks import actions as tasks

    with transaction() as conn:
        pending = store.unlaunched_tasks(conn, older_than_seconds=UNLAUNCHED_TASK_SECONDS)
    for task in pending:
        tasks.launch(task)
    return len(pending)


def end_silent_executions(now: datetime) -> int:
    """Executions that ended (timed out, failed, aborted) without a note to the status queue."""
    from codeloop.adapters import workflows
    from codeloop.services.syncer import publish
    from codeloop.services.tasks.actions import answer_batch

    with transaction() as conn:
        running = store.running_executions(conn, older_than_seconds=EXECUTION_CHECK_SECONDS)
    ended = 0
    for execution in running:
        if not execution.execution_arn:
            continue
        status, error = workflows.execution_status(execution.execution_arn)
        if status == "RUNNING":
            continue
        ledger_status = {"SUCCEEDED": "succeeded", "TIMED_OUT": "timed_out", "ABORTED": "aborted"}.get(
            status, "failed"
        )
        reason = f"the workflow ended as {status}" + (f": {error}" if error else "")
        with transaction(actor="sweeper") as conn:
            store.finish_execution(
                conn, execution.name, ledger_status, None if status == "SUCCEEDED" else reason
            )
            task = store.require_task(conn, execution.task_id)
            if status != "SUCCEEDED" and TaskStatus.FAILED in ALLOWED[task.status]:
                task = store.transition_task(conn, task.id, TaskStatus.FAILED, step="workflow", error=reason)
        answer_batch(task)
        publish(str(execution.task_id))
        ended += 1
    return ended


__all__ = ["DeliveryStatus", "sweep"]
