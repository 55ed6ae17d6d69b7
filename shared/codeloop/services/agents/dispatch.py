"""The DispatchCodegen step: hand a rendered prompt to a code-generation provider, exactly once.

For one (task, attempt) at most one provider run is created, whatever SQS or Lambda do:

1. A run already recorded for the attempt means a redelivery: nothing is called again.
2. A provider is chosen in order (settings, narrowed by the repository's ``providers``) among
   those whose shared circuit breaker admits a call; none → the task waits, visibly, in
   ``waiting_provider`` until the sweeper resumes it.
3. A rate-limited provider needs a token from the shared bucket; none → the message goes back
   to the queue, delayed until the next token returns (a Lambda never sleeps).
4. The idempotency record (codegen_runs, unique per task and attempt) is claimed before the
   call. A claim left by an instance that died mid-call, or a call whose outcome is unknown,
   is reconciled with ``find_run`` before anything is created again.
5. An agent run (Codegen) leaves the step waiting: its token is stored and answered by the
   sweeper or by the agent's pull request (``codegen_runs``). A diff provider answers at once:
   its changes are pushed as a branch and pull request, and the step returns
   ``{"run_id", "pr_number", "head_sha"}``.
"""

from __future__ import annotations

import math
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from codeloop.adapters import github
from codeloop.db import dispatch_store as runs
from codeloop.db import prompts_store, store
from codeloop.db.dispatch_store import CodegenRun
from codeloop.db.pool import transaction
from codeloop.db.prompts_store import RenderedPromptRow
from codeloop.domain.call_retries import CallRetryPolicies, next_call_delay
from codeloop.domain.diffs import DiffRefused
from codeloop.domain.lifecycle import TaskStatus
from codeloop.domain.models import Repository, Task
from codeloop.domain.providers import (
    CodeGenerationProvider,
    ErrorClass,
    NoProviderAvailable,
    OutcomeUnknown,
    PlanLimitReached,
    ProviderError,
    RunRepository,
    RunRequest,
    RunResult,
    RunStatus,
    order_providers,
)
from codeloop.domain.repo_config import RepoConfig
from codeloop.domain.steps import StepFailed, StepMessage, StepPending
from codeloop.observability import logger, metrics
from codeloop.services.agents import diff_push
from codeloop.services.agents.providers import (
    RATE_WINDOW,
    breaker_policy,
    call_retry_policies,
    provider_named,
    runs_per_window,
)
from codeloop.services.costs import budgets
from codeloop.services.costs.ledger import prompt_name
from codeloop.services.tasks import ledger
from codeloop.settings import get_settings

ACTOR = "codegen_dispatcher"
# How long one instance owns a (task, attempt) while it calls the provider: longer than a call
# can take (the HTTP timeouts) and than the function's own timeout.
CLAIM_FOR = timedelta(seconds=90)
SQS_MAX_DELAY_SECONDS = 900


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Context:
    """What one dispatch needs, loaded once."""

    def __init__(
        self,
        message: StepMessage,
        task: Task,
        repository: Repository,
        prompt: RenderedPromptRow,
        config: RepoConfig,
    ):
        self.message = message
        self.task = task
        self.repository = repository
        self.prompt = prompt.body
        self.prompt_name = prompt_name(prompt)
        self.config = config

    @property
    def installation_id(self) -> int:
        assert self.repository.installation_id is not None
        return self.repository.installation_id

    @property
    def base_branch(self) -> str:
        return self.task.base_branch or self.repository.default_branch

    def request(self, provider: CodeGenerationProvider) -> RunRequest:
        # A diff provider reads the files it changes; on a fix attempt, those of the task's branch.
        ref = self.task.branch if not provider.opens_pull_requests and self.task.branch else self.base_branch
        return RunRequest(
            task_id=str(self.task.id),
            attempt=self.message.attempt,
            prompt=self.prompt,
            repository=RunRepository(
                full_name=self.repository.full_name, github_id=self.repository.id, ref=ref
            ),
            metadata={"source": "codeloop", "task_type": str(self.task.type)},
            protected_paths=tuple(self.config.protected_paths),
            prompt_name=self.prompt_name,
        )


def dispatch_codegen_step(message: StepMessage) -> dict[str, Any]:
    """The worker's step (see the module docstring). Returns only for a provider that answers at once."""
    now = utcnow()
    context, existing, previous = _load(message)
    if existing is not None and (existing.external_id is not None or existing.answered_at is not None):
        return _already_dispatched(message, existing)
    if existing is not None and existing.claimed_until is not None and existing.claimed_until > now:
        # Another instance is calling the provider for this attempt right now.
        _return_later(
            message, (existing.claimed_until - now).total_seconds(), "another delivery is dispatching"
        )
    if existing is not None and existing.claimed_until is not None:
        # An earlier call may have reached the provider (its instance died, or its outcome is unknown).
        found = _reconcile(context, existing, previous)
        if found is not None:
            with transaction(actor=ACTOR, correlation_id=message.execution_name) as conn:
                run = _record_started(conn, context, existing, found)
            return _after_start(context, run, found)

    _stop_if_over_budget(context, now)
    order = _provider_order(context)
    provider = _admitted_provider(order, now)
    if provider is None:
        _wait_for_provider(context, order)
    _take_rate_token(message, provider.name, now)

    with transaction(actor=ACTOR, correlation_id=message.execution_name) as conn:
        claim = runs.claim_run(
            conn,
            task_id=context.task.id,
            attempt=message.attempt,
            provider=provider.name,
            prompt_id=message.extra["prompt_id"],
            task_token=message.task_token,
            execution_name=message.execution_name,
            now=now,
            claim_for=CLAIM_FOR,
        )
    if claim is None:
        _return_later(message, CLAIM_FOR.total_seconds(), "another delivery claimed this attempt")
    return _call(context, provider, claim, previous)


# -- loading --------------------------------------------------------------------------------------


def _load(message: StepMessage) -> tuple[_Context, CodegenRun | None, CodegenRun | None]:
    prompt_id = message.extra.get("prompt_id")
    if not prompt_id:
        raise StepFailed("PromptMissing", "the DispatchCodegen message names no prompt_id")
    with transaction() as conn:
        task = store.require_task(conn, message.task_id)
        repository = store.get_repository(conn, task.repository_id)
        prompt = prompts_store.get_rendered(conn, prompt_id)
        existing = runs.get_run(conn, task.id, message.attempt)
        previous = runs.get_run(conn, task.id, message.attempt - 1) if message.attempt > 1 else None
    if prompt is None or str(prompt.task_id) != str(task.id):
        raise StepFailed("PromptMissing", f"rendered prompt {prompt_id} of task {task.id} does not exist")
    if repository is None or repository.installation_id is None or not repository.active:
        raise StepFailed("RepositoryNotInstalled", f"the App is not installed on task {task.id}'s repository")
    from codeloop.services.repository_config import load_repo_config

    config, _problem = load_repo_config(repository.installation_id, repository.full_name)
    return _Context(message, task, repository, prompt, config), existing, previous


def _stop_if_over_budget(context: _Context, now: datetime) -> None:
    """Before any new agent call: a task or installation at its limit ends here, saying which and why."""
    stop = budgets.task_stop(context.task.id, context.installation_id, context.config.budget, now)
    if stop is None:
        return
    logger.info("budget reached: no further agent call", extra={"limit": stop.limit, "spent": stop.spent})
    metrics.add_metric(name="BudgetStopped", unit="Count", value=1)
    raise StepFailed(stop.error, stop.cause)


def _provider_order(context: _Context) -> list[str]:
    try:
        return order_providers(get_settings().providers, context.config.providers)
    except NoProviderAvailable as exc:
        raise StepFailed("NoProviderAvailable", str(exc)) from None


# -- a run that already exists -----------------------------------------------------------------


def _already_dispatched(message: StepMessage, run: CodegenRun) -> dict[str, Any]:
    """A redelivered message, or a resumed Lambda: the database says the run was started."""
    if run.execution_name not in (None, message.execution_name):
        raise StepFailed(
            "AttemptConflict",
            f"attempt {run.attempt} of task {run.task_id} already has run {run.external_id} "
            f"from execution {run.execution_name}",
        )
    if run.answered_at is None and run.task_token != message.task_token:
        with transaction(actor=ACTOR, correlation_id=message.execution_name) as conn:
            runs.set_run_token(conn, run.id, message.task_token, message.execution_name)
    logger.info(
        "run already dispatched", extra={"run": run.external_id, "answered": run.answered_at is not None}
    )
    raise StepPending


def _reconcile(context: _Context, stale: CodegenRun, previous: CodegenRun | None) -> RunResult | None:
    """The run an earlier, unfinished call may have created (found by its task and attempt)."""
    provider = provider_named(stale.provider)
    try:
        if _resumes(provider, previous):
            assert previous is not None and previous.external_id is not None
            current = provider.get_run(previous.external_id)
            # Before the resume the previous run had finished; running again means it was resumed.
            return current if not current.status.is_terminal else None
        return provider.find_run(str(context.task.id), context.message.attempt)
    except ProviderError as exc:
        logger.warning("reconciliation failed", extra={"error": str(exc)})
        raise  # transient: SQS delivers again; creating now could duplicate the run


def _resumes(provider: CodeGenerationProvider, previous: CodegenRun | None) -> bool:
    return bool(
        provider.opens_pull_requests
        and previous is not None
        and previous.external_id is not None
        and previous.provider == provider.name
    )


# -- choosing a provider -----------------------------------------------------------------------


def _admitted_provider(order: list[str], now: datetime) -> CodeGenerationProvider | None:
    policy = breaker_policy()
    for name in order:
        with transaction(actor=ACTOR) as conn:
            admitted = runs.breaker_admits(conn, name, now, policy)
        if admitted:
            return provider_named(name)
        logger.info("provider unavailable (breaker open)", extra={"provider": name})
    return None


def _wait_for_provider(context: _Context, order: list[str]) -> None:
    message = context.message
    with transaction(actor=ACTOR, correlation_id=message.execution_name) as conn:
        runs.save_provider_wait(
            conn,
            task_id=context.task.id,
            attempt=message.attempt,
            execution_name=message.execution_name,
            providers=order,
            message=message.model_dump(mode="json"),
        )
        task = store.require_task(conn, context.task.id)
        if task.status == TaskStatus.GENERATING:
            store.transition_task(conn, task.id, TaskStatus.WAITING_PROVIDER)
    ledger.announce(str(context.task.id), "waiting_provider", providers=order)
    metrics.add_metric(name="WaitingForProvider", unit="Count", value=1)
    raise StepPending


def _take_rate_token(message: StepMessage, provider: str, now: datetime) -> None:
    limit = runs_per_window(provider)
    if limit is None:
        return
    with transaction(actor=ACTOR) as conn:
        grant = runs.take_token(conn, provider, now, limit, RATE_WINDOW)
    if not grant.granted:
        metrics.add_metric(name="RateLimitDeferred", unit="Count", value=1)
        _return_later(message, grant.wait_seconds, f"{provider}: {limit} new runs a minute reached")


def _return_later(message: StepMessage, delay_seconds: float, reason: str) -> None:
    """Put the message back on the queue, visible again after ``delay_seconds``, and end this delivery."""
    from codeloop.adapters.aws import client

    delay = min(SQS_MAX_DELAY_SECONDS, max(1, math.ceil(delay_seconds)))
    client("sqs").send_message(
        QueueUrl=str(get_settings().require("codegen_queue_url")),
        MessageBody=message.model_dump_json(),
        DelaySeconds=delay,
    )
    logger.info("dispatch deferred", extra={"reason": reason, "delay_seconds": delay})
    raise StepPending


# -- the call ---------------------------------------------------------------------------------------


def _call(
    context: _Context, provider: CodeGenerationProvider, claim: CodegenRun, previous: CodegenRun | None
) -> dict[str, Any]:
    try:
        request = context.request(provider)  # may call the provider (its repository id): counts too
        if _resumes(provider, previous):
            assert previous is not None and previous.external_id is not None
            result = provider.resume_run(previous.external_id, request)
        else:
            result = provider.create_run(request)
        if not provider.opens_pull_requests and result.status is RunStatus.COMPLETED:
            pushed = diff_push.push_as_pull_request(
                context.installation_id, context.repository.full_name, context.base_branch, context.task,
                context.message.attempt, result, context.config.protected_paths,
            )  # fmt: skip
            return _finish_pushed(context, claim, result, pushed)
    except OutcomeUnknown as unknown:
        _breaker_failure(provider.name)
        found = _reconcile(context, claim, previous)
        if found is None:
            _failed_call(context, claim, provider.name, unknown)
        result = found
    except PlanLimitReached as exc:
        _final(context, claim, provider.name, "PlanLimitReached", exc)
    except ProviderError as exc:
        if exc.error_class in (ErrorClass.RATE_LIMITED, ErrorClass.RETRYABLE):
            _breaker_failure(provider.name)
            _failed_call(context, claim, provider.name, exc)
        _final(context, claim, provider.name, "ProviderError", exc)
    except DiffRefused as exc:  # the push found a path the diff may not write (a symlink, a submodule)
        _final(context, claim, provider.name, "DiffRefused", exc)
    except ValueError as exc:  # a completed diff run that changes nothing
        _final(context, claim, provider.name, "NoChanges", exc)
    except github.GitHubError as exc:
        if isinstance(exc, github.GitHubRetryable | github.GitHubRateLimited):
            _release(context, claim, provider.name, f"push: {exc}")
            raise
        _final(context, claim, provider.name, "PushFailed", exc)
    with transaction(actor=ACTOR, correlation_id=context.message.execution_name) as conn:
        run = _record_started(conn, context, claim, result)
        runs.breaker_success(conn, provider.name)
    return _after_start(context, run, result)


def _record_started(conn: Any, context: _Context, row: CodegenRun, result: RunResult) -> CodegenRun:
    deadline = utcnow() + timedelta(minutes=get_settings().agent_run_deadline_minutes)
    run = runs.record_run_started(
        conn,
        row.id,
        provider=result.provider,
        external_id=result.run_id,
        status=result.status.value,
        web_url=result.web_url,
        pull_requests=[pr.model_dump() for pr in result.pull_requests],
        summary=result.summary,
        error=result.error,
        deadline_at=deadline,
    )
    runs.record_agent_branches(
        conn,
        context.task.id,
        [pr.head_branch for pr in result.pull_requests if pr.head_branch],
        created_by=result.provider,
        run_id=result.run_id,
    )
    if result.web_url:
        store.update_task(conn, context.task.id, agent_run_url=result.web_url)
    return run


def _after_start(context: _Context, run: CodegenRun, result: RunResult) -> dict[str, Any]:
    if result.status is RunStatus.FAILED:
        # A diff that does not apply, or an answer without one: a failed run, with its reason.
        with transaction(actor=ACTOR, correlation_id=context.message.execution_name) as conn:
            runs.answer_run(conn, run.id, pr_number=None, head_sha=None)
        error = "AgentRunFailed" if provider_named(run.provider).opens_pull_requests else "DiffDoesNotApply"
        raise StepFailed(error, result.error or "the run failed")
    ledger.announce(str(context.task.id), "agent_run_started", run_id=result.run_id, web_url=result.web_url)
    metrics.add_metric(name="AgentRunStarted", unit="Count", value=1)
    raise StepPending


def _finish_pushed(
    context: _Context, claim: CodegenRun, result: RunResult, pushed: diff_push.PushedChange
) -> dict[str, Any]:
    with transaction(actor=ACTOR, correlation_id=context.message.execution_name) as conn:
        run = _record_started(conn, context, claim, result)
        runs.answer_run(conn, run.id, pr_number=pushed.pr_number, head_sha=pushed.head_sha)
        runs.breaker_success(conn, result.provider)
        store.update_task(
            conn,
            context.task.id,
            branch=pushed.branch,
            pr_number=pushed.pr_number,
            pr_url=pushed.pr_url,
            head_sha=pushed.head_sha,
        )
    return {"run_id": result.run_id, "pr_number": pushed.pr_number, "head_sha": pushed.head_sha}


# -- failures -------------------------------------------------------------------------------------


def _breaker_failure(provider: str) -> None:
    with transaction(actor=ACTOR) as conn:
        runs.breaker_failure(conn, provider, utcnow(), breaker_policy())


def _release(
    context: _Context, claim: CodegenRun, provider: str, error: str, *, maybe_created: bool = False
) -> CodegenRun:
    """Give the claim up; ``maybe_created`` leaves it expired, so the next delivery reconciles first."""
    with transaction(actor=ACTOR, correlation_id=context.message.execution_name) as conn:
        return runs.record_call_failed(
            conn, claim.id, provider, error, claimed_until=utcnow() if maybe_created else None
        )


def _failed_call(context: _Context, claim: CodegenRun, provider: str, exc: ProviderError) -> None:
    """A call that may succeed later: count it, then re-queue after the call retry policy's delay, or give up."""
    released = _release(context, claim, provider, str(exc), maybe_created=isinstance(exc, OutcomeUnknown))
    policies: CallRetryPolicies = call_retry_policies(context.config)
    elapsed = (utcnow() - claim.created_at).total_seconds()
    delay = next_call_delay(
        policies,
        exc.error_class,
        released.failed_calls,
        elapsed,
        secrets.SystemRandom(),
        retry_after=getattr(exc, "retry_after", None),
    )
    if delay is None:
        raise StepFailed(
            "ProviderUnavailable",
            f"{exc} (gave up after {released.failed_calls} call(s) over {elapsed:.0f} s)",
        )
    _return_later(context.message, delay, f"{exc.error_class.value}: {exc}")


def _final(context: _Context, claim: CodegenRun, provider: str, error: str, exc: Exception) -> None:
    with transaction(actor=ACTOR, correlation_id=context.message.execution_name) as conn:
        failed = runs.record_call_failed(conn, claim.id, provider, str(exc), claimed_until=None)
        runs.update_run_progress(
            conn, failed.id, status="failed", pull_requests=[], summary=None, error=str(exc)
        )
        runs.answer_run(conn, failed.id, pr_number=None, head_sha=None)
    raise StepFailed(error, str(exc))
