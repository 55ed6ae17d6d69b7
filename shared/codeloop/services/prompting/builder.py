"""The BuildPrompt / BuildFixPrompt step: task → context → template → rendered prompt, stored.

Failures are classified for the worker shape (:mod:`codeloop.services.tasks.steps`):

- final (``StepFailed``, visible on the PR): ``ConfigInvalid`` (``.github/codeloop.yml``),
  ``PromptSelection`` (no template serves the task, or a pin names what is not available),
  ``PromptRender`` (a template needs a variable that was not given), ``TaskNotFound``,
  ``RepositoryNotInstalled``;
- transient (raised, so SQS delivers the message again): the GitHub rate limit, GitHub server
  errors and network failures while reading the configuration, database errors.

Optional context that cannot be read is left out (see :mod:`codeloop.services.prompting.context`).
A message delivered again for an attempt whose prompt is already stored answers with that prompt.
The template version is chosen by outcomes (:mod:`codeloop.services.learning.outcomes`), and a fix
prompt gets what fixed similar failures in the repository before (:mod:`codeloop.services.learning.memory`).
"""

from __future__ import annotations

import time
from typing import Any

from codeloop.db import prompts_store, store, validation_store
from codeloop.db.pool import transaction
from codeloop.domain.learning import LearningInputs
from codeloop.domain.models import Repository, Task
from codeloop.domain.prompt_context import EarlierAttempt, PromptInputs
from codeloop.domain.prompts import (
    PromptRenderError,
    PromptSelectionError,
    RenderedPrompt,
    build_prompt,
)
from codeloop.domain.repo_config import (
    CONFIG_PATH,
    RepoConfig,
)
from codeloop.domain.steps import StepFailed, StepMessage
from codeloop.observability import logger, metrics
from codeloop.services.learning import memory
from codeloop.services.learning.outcomes import learning_inputs
from codeloop.services.prompting.context import READ_PERMISSIONS, FixContext, gather
from codeloop.services.prompting.versions import TemplateCatalog, catalog
from codeloop.services.repository_config import load_repo_config
from codeloop.settings import get_settings


def build_prompt_step(message: StepMessage) -> dict[str, Any]:
    """Build, store and return ``{"prompt_id": …}`` for the message's task and attempt."""
    started = time.perf_counter()
    kind = "fix" if message.extra.get("kind") == "fix" else "initial"
    with transaction() as conn:
        task = store.get_task(conn, message.task_id)
        if task is None:
            raise StepFailed("TaskNotFound", f"task {message.task_id} does not exist")
        existing = prompts_store.rendered_for_attempt(conn, task.id, message.attempt, kind)
        if existing is not None:
            logger.info("prompt already built for this attempt", extra={"prompt_id": str(existing.id)})
            return {"prompt_id": str(existing.id)}
        repository = store.get_repository(conn, task.repository_id)
        fix, validation_run, attempts = (
            _fix_inputs(conn, task, message) if kind == "fix" else (None, None, [])
        )
        memories = memory.recall(conn, task.repository_id, validation_run)
    if repository is None or repository.installation_id is None:
        raise StepFailed("RepositoryNotInstalled", f"the App is not installed on task {task.id}'s repository")

    config = _repo_config(repository)
    gathered = gather(
        task,
        repository,
        attempt=message.attempt,
        fix=fix,
        validation_run=validation_run,
        earlier_attempts=attempts,
    )
    inputs = gathered.inputs.model_copy(update={"fix_memories": memories})
    with transaction() as conn:
        templates = catalog(conn)
        serving = templates.serving(inputs.task.type)
        learning = learning_inputs(conn, task, message.attempt, kind, serving)
    prompt = _render(templates, inputs, config, learning)
    with transaction(actor="prompt_builder", correlation_id=message.execution_name) as conn:
        row = prompts_store.insert_rendered(
            conn,
            task_id=task.id,
            attempt=message.attempt,
            kind=kind,
            template_id=prompt.template_id,
            template_version=prompt.template_version,
            template_sha256=prompt.template_sha256,
            selection_reason=prompt.reason,
            body=prompt.text,
            context_manifest=prompt.manifest.model_dump(mode="json"),
            size_chars=prompt.sizes.total_chars,
            context_chars=prompt.sizes.context_chars,
            context_budget=prompt.sizes.context_budget,
            task_chars=prompt.sizes.task_chars,
            sha256=prompt.sha256,
            gathering=[m.model_dump(mode="json") for m in gathered.measures],
        )
    total_ms = (time.perf_counter() - started) * 1000
    logger.info(
        "prompt built",
        extra={
            "prompt_id": str(row.id),
            "template": f"{prompt.template_id} v{prompt.template_version}",
            "reason": prompt.reason,
            "chars": prompt.sizes.total_chars,
            "context_chars": prompt.sizes.context_chars,
            "total_ms": round(total_ms, 1),
            "github_ms": gathered.github_ms,
            "pieces": [m.model_dump(mode="json") for m in gathered.measures],
        },
    )
    metrics.add_metric(name="PromptBuildMs", unit="Milliseconds", value=total_ms)
    metrics.add_metric(name="PromptChars", unit="Count", value=prompt.sizes.total_chars)
    metrics.add_metric(
        name="PromptContextPiecesLeftOut",
        unit="Count",
        value=sum(m.outcome in ("failed", "skipped") for m in gathered.measures),
    )
    return {"prompt_id": str(row.id)}


def _repo_config(repository: Repository) -> RepoConfig:
    """The repository's configuration; an invalid file fails the step (the comment says why)."""
    assert repository.installation_id is not None
    config, problem = load_repo_config(
        repository.installation_id, repository.full_name, permissions=READ_PERMISSIONS
    )
    if problem is not None:
        raise StepFailed("ConfigInvalid", f"{CONFIG_PATH}: {problem}")
    return config


def _fix_inputs(conn: Any, task: Task, message: StepMessage) -> tuple[FixContext, Any, list[EarlierAttempt]]:
    previous_validation = message.extra.get("previous_validation") or {}
    previous_codegen = message.extra.get("previous_codegen") or {}
    fix = FixContext.model_validate({**previous_codegen, **previous_validation})
    run = validation_store.get_validation_run(conn, fix.validation_run_id) if fix.validation_run_id else None
    if run is None:
        run = validation_store.validation_run_for_attempt(conn, task.id, message.attempt - 1)
    attempts = [
        EarlierAttempt(
            number=row.attempt,
            outcome=f"agent run {row.codegen_status or 'not started'}; validation {row.validation_status or 'not run'}",
            summary="\n".join(filter(None, [row.codegen_summary, row.codegen_error, row.validation_summary])),
            pull_request_url=_first_pr_url(row.pull_requests),
        )
        for row in prompts_store.earlier_attempts(conn, task.id, message.attempt)
    ]
    return fix, run, attempts


def _first_pr_url(pull_requests: Any) -> str | None:
    if isinstance(pull_requests, list):
        for item in pull_requests:
            if isinstance(item, dict) and isinstance(item.get("url") or item.get("html_url"), str):
                return item.get("url") or item.get("html_url")
    return None


def _render(
    templates: TemplateCatalog, inputs: PromptInputs, config: RepoConfig, learning: LearningInputs
) -> RenderedPrompt:
    try:
        return build_prompt(templates.available, inputs, config, get_settings().max_context_chars, learning)
    except PromptSelectionError as exc:
        hint = "" if templates.available else " (no templates in the database: run `codeloop prompts sync`)"
        raise StepFailed("PromptSelection", f"{exc}{hint}") from None
    except PromptRenderError as exc:
        raise StepFailed("PromptRender", str(exc)) from None
