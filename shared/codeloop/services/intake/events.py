"""Act on a stored webhook delivery: what the events queue hands the status syncer.

Messages carry the delivery id only; the payload is read back from PostgreSQL, so a message is
small and a redelivered one finds the delivery already processed.
"""

from __future__ import annotations

from codeloop.db import store
from codeloop.db.pool import autocommitted, transaction
from codeloop.domain.commands import requests_from_event
from codeloop.domain.delivery_log import ReplayRequest
from codeloop.domain.lifecycle import ALLOWED, TaskStatus, is_terminal
from codeloop.domain.models import DeliveryStatus
from codeloop.domain.webhooks import DeliveryEnvelope
from codeloop.observability import bind, logger
from codeloop.services.reporting.publisher import publish_task
from codeloop.services.tasks.actions import end_workflow
from codeloop.settings import SettingsError

INSTALLATION_EVENTS = frozenset({"installation", "installation_repositories"})
REQUEST_EVENTS = frozenset({"issue_comment", "pull_request_review_comment", "issues", "check_run"})


def process_delivery(delivery_id: str, replay: ReplayRequest | None = None) -> list[str]:
    """Handle one delivery once; returns what was done (for the logs and tests).

    A replay asking for ``new_task`` makes its commands new requests (keyed by the replay).
    """
    bind(correlation_id=delivery_id)
    with autocommitted() as conn:  # two reads, no transaction around them: the payload never changes
        delivery = store.get_delivery(conn, delivery_id)
        if delivery is None:
            logger.warning("no such delivery", extra={"delivery_id": delivery_id})
            return ["missing"]
        if delivery.status in (DeliveryStatus.PROCESSED, DeliveryStatus.IGNORED):
            return ["already processed"]
        payload = store.get_delivery_payload(conn, delivery_id)
    envelope = DeliveryEnvelope.from_delivery(delivery.event, delivery_id, payload)
    try:
        if delivery.source == "linear":
            from codeloop.services.intake.linear import handle_linear_delivery

            outcomes = handle_linear_delivery(delivery_id, payload, replay)
        else:
            outcomes = _dispatch(envelope, payload, replay)
    except SettingsError as missing:
        # Retrying cannot help until an operator sets it: fail the delivery visibly, once.
        logger.error("delivery needs a setting", extra={"error": str(missing)})
        with transaction() as conn:
            store.set_delivery_status(
                conn, delivery_id, DeliveryStatus.FAILED, error=f"not configured: {missing}"
            )
        return [f"not configured: {missing}"]
    except Exception as exc:
        with transaction() as conn:
            store.set_delivery_status(
                conn, delivery_id, DeliveryStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000]
            )
        raise
    with transaction() as conn:
        store.set_delivery_status(conn, delivery_id, DeliveryStatus.PROCESSED, error=None)
    logger.info("delivery processed", extra={"event": envelope.event, "outcomes": outcomes})
    return outcomes


def _dispatch(envelope: DeliveryEnvelope, payload: dict, replay: ReplayRequest | None) -> list[str]:
    if envelope.event in INSTALLATION_EVENTS:
        from codeloop.services.intake.installations import apply_installation_event

        with transaction(actor="github", correlation_id=envelope.delivery_id) as conn:
            apply_installation_event(conn, envelope.event, envelope.action, payload)
        return [f"{envelope.event}.{envelope.action}"]
    if envelope.event.startswith("slack_"):
        from codeloop.services.intake.slack_requests import handle_slack_delivery

        return handle_slack_delivery(envelope, payload)
    if envelope.event in REQUEST_EVENTS:
        from codeloop.services.intake.requests import handle_requests

        requests = requests_from_event(envelope, payload)
        if replay is not None and replay.new_task:
            requests = [request.model_copy(update={"replay_id": replay.id}) for request in requests]
        return handle_requests(requests, payload)
    if envelope.event == "pull_request":
        return [*_auto_merge_after_push(envelope, payload), _pull_request(envelope, payload)]
    if envelope.event == "check_suite" and envelope.action == "completed":
        from codeloop.services.validation.step import on_check_suite_completed

        head_sha = (payload.get("check_suite") or {}).get("head_sha")
        fed = bool(head_sha) and on_check_suite_completed(envelope.repository_full_name or "", head_sha)
        return ["validation resumed" if fed else "no validation waiting"]
    if envelope.event == "merge_group" and envelope.action == "checks_requested":
        from codeloop.services.reporting.merge_queue import on_merge_group_checks_requested

        if envelope.installation_id is None or not envelope.repository_full_name:
            return ["merge group: no installation or repository"]
        return [
            on_merge_group_checks_requested(
                envelope.installation_id, envelope.repository_full_name, payload.get("merge_group") or {}
            )
        ]
    return [f"no action for {envelope.event}.{envelope.action}"]


def _auto_merge_after_push(envelope: DeliveryEnvelope, payload: dict) -> list[str]:
    """A push to a pull request turns off the auto-merge codeloop turned on for an earlier head
    (first: GitHub may merge the new head any moment)."""
    if envelope.action != "synchronize" or envelope.repository_id is None or envelope.number is None:
        return []
    from codeloop.services.reporting.auto_merge import turn_off_after_push

    pull = payload.get("pull_request") or {}
    head_sha = (pull.get("head") or {}).get("sha") or ""
    return [turn_off_after_push(envelope.repository_id, envelope.number, pull.get("node_id") or "", head_sha)]


def _pull_request(envelope: DeliveryEnvelope, payload: dict) -> str:
    """The agent's PR arriving ends the codegen wait; a closed PR ends its task."""
    pull = payload.get("pull_request") or {}
    if envelope.action == "closed":
        if envelope.repository_id is None or envelope.number is None:
            return "closed: no repository"
        return on_pull_request_closed(
            envelope.repository_id,
            envelope.number,
            bool(pull.get("merged")),
            envelope.sender_login or "someone",
        )
    if envelope.action in ("opened", "synchronize", "reopened", "edited"):
        from codeloop.domain.adoption import PullRequestFacts
        from codeloop.services.agents.runs import on_agent_pull_request

        head = pull.get("head") or {}
        facts = PullRequestFacts(
            repository=envelope.repository_full_name or "",
            number=envelope.number or 0,
            head_branch=head.get("ref") or "",
            head_repository=(head.get("repo") or {}).get("full_name"),
            author=(pull.get("user") or {}).get("login") or "",
        )
        matched = on_agent_pull_request(facts, head.get("sha") or "")
        return "agent pull request linked" if matched else "not an agent pull request"
    return f"no action for pull_request.{envelope.action}"


def on_pull_request_closed(repository_id: int, number: int, merged: bool, actor: str) -> str:
    """A closed PR ends its task: merged → completed, closed unmerged → cancelled."""
    with transaction(actor=actor) as conn:
        task = store.latest_task_for_thread(conn, repository_id, number)
        if task is None or is_terminal(task.status):
            return "no running task"
        target = TaskStatus.COMPLETED if merged else TaskStatus.CANCELLED
        if target not in ALLOWED[task.status]:
            target = TaskStatus.CANCELLED
        reason = "the pull request was merged" if merged else f"the pull request was closed by @{actor}"
        task = store.transition_task(
            conn, task.id, target, step="pull_request", error=None if merged else reason
        )
        tokens = store.waiting_step_tokens(conn, task.id)
    end_workflow(task, reason, tokens)
    publish_task(str(task.id))
    return f"task {task.id} {target}"
