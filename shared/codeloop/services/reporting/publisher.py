"""Write what a task looks like on GitHub: its check run (one per attempt) and its one comment.

Everything is rendered from PostgreSQL each time (``domain/report.py``), so a duplicate or
late note converges on the same text. The check run lives on the head commit of the PR under
validation; the comment on the issue or PR where the work was asked.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from codeloop.adapters import github
from codeloop.db import costs_store, report_store, store
from codeloop.db.locks import task_lock
from codeloop.db.pool import transaction
from codeloop.domain.models import Repository, Task
from codeloop.domain.report import (
    AgentRunView,
    AttemptView,
    CheckRunRender,
    TaskFacts,
    TaskView,
    render_check_run,
    render_comment,
    render_superseded_check_run,
    task_marker,
)
from codeloop.domain.steps import DeliverLater
from codeloop.domain.validation import ValidationReport
from codeloop.observability import logger
from codeloop.services.linear import report as linear_report
from codeloop.services.slack import messages as slack_messages
from codeloop.settings import get_settings


def repository_url(full_name: str) -> str:
    api = urlsplit(get_settings().github_api_url)
    return f"{api.scheme}://{get_settings().github_web_host}/{full_name}"


def build_view(task: Task, repository: Repository) -> TaskView:
    """The task as the renderers see it, read from PostgreSQL."""
    with transaction() as conn:
        history = store.task_history(conn, task.id)
        runs = report_store.agent_runs(conn, task.id)
        validations = report_store.validations(conn, task.id)
        cancelled_by = report_store.cancelled_by(conn, task.id)
        cost = costs_store.task_cost(conn, task.id)
    check_runs: dict[str, dict[str, Any]] = task.metadata.get("check_runs", {})
    runs_by_attempt = {run.attempt: run for run in runs}
    validations_by_attempt = {validation.attempt: validation for validation in validations}
    attempts = []
    for number in range(1, task.attempt + 1):
        run, validation = runs_by_attempt.get(number), validations_by_attempt.get(number)
        check = check_runs.get(str(number), {})  # the attempt's check run on its latest head
        report = None
        if validation and validation.results:
            try:
                report = ValidationReport.model_validate(validation.results)
            except ValueError:
                logger.warning("unreadable validation results", extra={"attempt": number})
        attempts.append(
            AttemptView(
                number=number,
                agent_run=AgentRunView(provider=run.provider, web_url=run.web_url, status=run.status)
                if run
                else None,
                validation_status=validation.status if validation else None,
                validation=report,
                check_run_id=check.get("id"),
                check_run_url=check.get("url"),
                head_sha=check.get("head_sha") or (validation.head_sha if validation else None),
            )
        )
    first_attempt = min(
        (int(e.name.rsplit("-", 1)[1]) for e in history if e.name.rsplit("-", 1)[1].isdigit()), default=1
    )
    return TaskView(
        task=TaskFacts.model_validate(task.model_dump()),
        repository=repository.full_name,
        repository_url=repository_url(repository.full_name),
        steps=[step for execution in history for step in execution.steps],
        attempts=attempts,
        max_attempts=first_attempt + repository.iteration_budget if history else None,
        cancelled_by=cancelled_by,
        auto_merge=task.metadata.get("auto_merge"),
        cost=cost,
    )


def publish_task(task_id: str) -> None:
    """Write the task's check run and comment, one publisher of a task at a time.

    Serialized per task across processes: two publishes at once would both find no comment (or
    no check run for the attempt) and both create one. Under the lock each reads the task afresh,
    so the second sees what the first created.
    """
    with task_lock("publish", task_id):
        _publish(task_id)


def publish_after_wait(task_id: str, channel: str) -> None:
    """The status queue note a failed Slack or Linear write left (``domain/publish_retry.py``):
    handed back to the queue while the channel's wait lasts, then only that channel is written from
    the task's state at that moment (GitHub's report is current), under the same lock as every
    publish of the task."""
    if channel not in _RETRIED_CHANNELS:
        logger.error(
            "retry note for an unknown channel dropped", extra={"task_id": task_id, "channel": channel}
        )
        return
    seconds_to_wait, write = _RETRIED_CHANNELS[channel]
    wait = seconds_to_wait(task_id)
    if wait > 0:
        raise DeliverLater(wait, f"{channel} asked to wait before the task's report there is written")
    with task_lock("publish", task_id):
        found = _task_and_repository(task_id)
        if found is not None:
            task, repository = found
            write(task, repository, build_view(task, repository))


def _write_linear(task: Task, _repository: Repository, view: TaskView) -> None:
    linear_report.publish_to_linear(task, view)


# A retry note's channel: how long it still wants the task left alone, and how it is written.
_RETRIED_CHANNELS: dict[str, tuple[Callable[[str], float], Callable[[Task, Repository, TaskView], None]]] = {
    "slack": (slack_messages.seconds_to_wait, slack_messages.publish_task_message),
    "linear": (linear_report.seconds_to_wait, _write_linear),
}


def _task_and_repository(task_id: str) -> tuple[Task, Repository] | None:
    """The task and its repository; None (logged) when the repository is not installed."""
    with transaction() as conn:
        task = store.require_task(conn, task_id)
        repository = store.get_repository(conn, task.repository_id)
    if repository is None or repository.installation_id is None:
        logger.warning("task has no installed repository; nothing to publish", extra={"task_id": task_id})
        return None
    return task, repository


def _publish(task_id: str) -> None:
    found = _task_and_repository(task_id)
    if found is None:
        return
    task, repository = found
    view = build_view(task, repository)
    installation, repo = repository.installation_id, repository.full_name
    if task.head_sha and task.attempt >= 1:
        _publish_check_run(task, view, installation, repo)
    number = task.issue_number or task.pr_number
    if number is not None:
        body = render_comment(view)
        if task.status_comment_id:
            github.update_issue_comment(installation, repo, task.status_comment_id, body)
        else:
            comment = github.upsert_marked_comment(installation, repo, number, task_marker(task.id), body)
            with transaction() as conn:
                store.update_task(conn, task.id, status_comment_id=comment.id)
    slack_messages.publish_task_message(task, repository, view)
    linear_report.publish_to_linear(task, view)


def _publish_check_run(task: Task, view: TaskView, installation: int, repo: str) -> None:
    """The current attempt's check run on the current head; earlier ones finished, stale ones closed.

    ``metadata.check_runs`` maps an attempt to the check run codeloop keeps for it (id, head,
    whether it is final, and a digest of the annotations it was sent), so each is created once,
    finished once, and given its annotations once: GitHub appends the annotations of every update.
    """
    runs: dict[str, dict[str, Any]] = dict(task.metadata.get("check_runs", {}))
    for key, known in list(runs.items()):
        if known.get("final"):
            continue
        attempt = int(key)
        if attempt < task.attempt:  # an earlier attempt: finish it with its own verdict
            runs[key] = _write(installation, repo, known, render_check_run(view, attempt)) | {"final": True}
        elif known["head_sha"] != task.head_sha:  # the work moved to another commit (the agent's PR)
            written = _write(installation, repo, known, render_superseded_check_run(view, attempt))
            runs[f"{key}:{known['head_sha'][:12]}"] = written | {"final": True}
            del runs[key]
    current = runs.get(str(task.attempt))
    render = render_check_run(view, task.attempt)
    if current is None:
        created = github.create_check_run(
            installation,
            repo,
            name=render.name,
            head_sha=task.head_sha,
            status=render.status,
            conclusion=render.conclusion,
            output=_output(render, send_annotations=True),
            actions=_actions(render),
            details_url=render.details_url,
            external_id=f"{task.id}:{task.attempt}",
        )
        runs[str(task.attempt)] = {
            "id": created.id,
            "url": created.html_url,
            "head_sha": task.head_sha,
            "annotated": _annotations_digest(render),
        }
    else:
        runs[str(task.attempt)] = _write(installation, repo, current, render)
    if runs != task.metadata.get("check_runs", {}):
        with transaction() as conn:
            store.update_task(conn, task.id, metadata={"check_runs": runs})


def _output(render: CheckRunRender, *, send_annotations: bool) -> github.CheckRunOutput:
    return github.CheckRunOutput(
        title=render.title,
        summary=render.summary,
        text=render.text,
        annotations=[github.Annotation.model_validate(a) for a in render.annotations]
        if send_annotations
        else [],
    )


def _annotations_digest(render: CheckRunRender) -> str | None:
    """What identifies the annotations a render carries (None: it carries none)."""
    if not render.annotations:
        return None
    return hashlib.sha256(json.dumps(render.annotations, sort_keys=True).encode()).hexdigest()


def _actions(render: CheckRunRender) -> list[github.CheckRunAction]:
    return [github.CheckRunAction.model_validate(a) for a in render.actions]


def _write(installation: int, repo: str, known: dict[str, Any], render: CheckRunRender) -> dict[str, Any]:
    """Update a known check run; its annotations only when it has not been sent these already.
    Returns what is then known of it."""
    digest = _annotations_digest(render)
    send_annotations = digest is not None and digest != known.get("annotated")
    github.update_check_run(
        installation,
        repo,
        known["id"],
        status=render.status,
        conclusion=render.conclusion,
        output=_output(render, send_annotations=send_annotations),
        actions=_actions(render),
        details_url=render.details_url,
    )
    return known | {"annotated": digest} if send_annotations else known
