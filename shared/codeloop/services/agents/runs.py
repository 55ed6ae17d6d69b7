"""Ending the wait of a dispatched agent run: the sweeper's poll, and the agent's pull request.

The DispatchCodegen step leaves its task token in ``codegen_runs``. Two things answer it,
whichever comes first (``answered_at`` is set by one compare-and-set, so only one answers):

- ``on_agent_pull_request`` (called by the status syncer for an opened or synchronized pull
  request) matches the PR to a waiting run, only if it is the agent's (domain/adoption.py): its
  branch is one the run reported creating (``github_pull_requests[].head_branch_name``, stored
  in ``agent_branches``), its head is in the base repository and its author is the provider's
  bot. A PR body or branch that merely names the run proves nothing;
- ``sweep_codegen_runs`` (on the status syncer's schedule) polls in-flight runs: completed with
  a PR → success; completed without one → NoPullRequest; failed → AgentRunFailed; silent past
  its deadline → AgentTimedOut. It also resumes tasks waiting for a provider once a breaker
  admits calls again, and stops Codegen's own check fixer on a completed run's PR.

Success answers ``{"run_id", "pr_number", "head_sha"}``, what ValidatePR needs. Before it, the
pull request of a task from Linear gets ``Fixes ENG-123`` in its description if the agent left it out.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel

from codeloop.adapters import github, workflows
from codeloop.db import dispatch_store as runs
from codeloop.db import store
from codeloop.db.dispatch_store import CodegenRun
from codeloop.db.pool import transaction
from codeloop.domain import breaker as breakers
from codeloop.domain.adoption import PullRequestFacts, adoption_refusal
from codeloop.domain.linear import body_linking_linear_issue, linear_reference
from codeloop.domain.providers import OpenedPullRequest, ProviderError, RunResult, RunStatus
from codeloop.observability import logger, metrics
from codeloop.services.agents.providers import bot_logins, breaker_policy, provider_named
from codeloop.services.costs import ledger as costs
from codeloop.services.tasks import ledger
from codeloop.settings import get_settings

ACTOR = "codegen_sweeper"
STEP = "DispatchCodegen"
# Providers whose runs are agents that open their own pull requests, polled by the sweeper.
AGENT_PROVIDERS = ("codegen",)
POLL_EVERY = timedelta(seconds=30)
POLL_LIMIT = 50  # the Codegen API allows 60 reads per 30 s
# The token's execution has ended (stopped, timed out): nothing is left to answer.
_GONE_TOKEN_ERRORS = ("TaskDoesNotExist", "TaskTimedOut", "InvalidToken")
_PULL_NUMBER = re.compile(r"/pull/(\d+)(?:[/?#]|$)")


class SweepSummary(BaseModel):
    polled: int = 0
    succeeded: int = 0
    failed: int = 0
    timed_out: int = 0
    resumed: int = 0
    errors: int = 0


def utcnow() -> datetime:
    return datetime.now(UTC)


# -- the sweeper ------------------------------------------------------------------------------------


def sweep_codegen_runs(now: datetime | None = None) -> SweepSummary:
    now = now or utcnow()
    summary = SweepSummary()
    agents = [name for name in get_settings().providers if name in AGENT_PROVIDERS]
    with transaction(actor=ACTOR) as conn:
        due = runs.claim_runs_to_poll(conn, agents, now, now - POLL_EVERY, POLL_LIMIT)
    for run in due:
        summary.polled += 1
        try:
            _poll(run, now, summary)
        except Exception:  # one bad run must not stop the sweep
            logger.exception("polling an agent run failed", extra={"run": run.external_id})
            summary.errors += 1
    _resume_waiting_tasks(now, summary)
    logger.info("codegen sweep", extra=summary.model_dump())
    return summary


def _poll(run: CodegenRun, now: datetime, summary: SweepSummary) -> None:
    assert run.external_id is not None
    provider = provider_named(run.provider)
    past_deadline = run.deadline_at is not None and now >= run.deadline_at
    try:
        result = provider.get_run(run.external_id)
    except ProviderError as exc:
        logger.warning("agent run could not be read", extra={"run": run.external_id, "error": str(exc)})
        summary.errors += 1
        if past_deadline and _answer_failure(
            run, "AgentTimedOut", f"run {run.external_id}: no answer ({exc})"
        ):
            summary.timed_out += 1
        return
    _store_progress(run, result)
    if result.status is RunStatus.COMPLETED:
        if result.pull_requests:
            _stop_check_fixes(run)
        if run.answered_at is not None:
            return
        if not result.pull_requests:
            if _answer_failure(
                run, "NoPullRequest", f"run {run.external_id} completed without a pull request"
            ):
                summary.failed += 1
            return
        outcome = _answer_with_pull_request(run, result.pull_requests[-1])
        if outcome == "succeeded":
            summary.succeeded += 1
        elif outcome == "failed":
            summary.failed += 1
        return
    if result.status.is_terminal:
        cause = f"run {run.external_id} {result.status.value}: {result.error or result.raw_status or ''}"
        if run.answered_at is None and _answer_failure(run, "AgentRunFailed", cause.strip()):
            summary.failed += 1
        return
    if past_deadline and run.answered_at is None:
        minutes = get_settings().agent_run_deadline_minutes
        if _answer_failure(
            run, "AgentTimedOut", f"run {run.external_id} still {result.raw_status} after {minutes} min"
        ):
            summary.timed_out += 1


def _store_progress(run: CodegenRun, result: RunResult) -> None:
    """What the provider says of the run now, and the branches it reports creating."""
    with transaction(actor=ACTOR) as conn:
        runs.update_run_progress(
            conn,
            run.id,
            status=result.status.value,
            pull_requests=[pr.model_dump() for pr in result.pull_requests],
            summary=result.summary,
            error=result.error,
            web_url=result.web_url,
        )
        runs.record_agent_branches(
            conn,
            run.task_id,
            [pr.head_branch for pr in result.pull_requests if pr.head_branch],
            created_by=run.provider,
            run_id=run.external_id,
        )


def _stop_check_fixes(run: CodegenRun) -> None:
    """docs/codegen.md: codeloop drives the fix loop, so Codegen's own check fixer stays off."""
    provider = provider_named(run.provider)
    stop = getattr(provider, "stop_check_fixes", None)
    if stop is None:
        return
    try:
        stop(run.external_id)
    except ProviderError as exc:
        logger.warning(
            "could not stop the agent's check fixer", extra={"run": run.external_id, "error": str(exc)}
        )


def _answer_with_pull_request(run: CodegenRun, pull: OpenedPullRequest) -> Literal["succeeded", "failed"] | None:
    """Answer a completed run with the PR it reports, if that PR is the agent's; None: not answered here."""
    opened = _reported_pull_request(run, pull)
    if isinstance(opened, tuple):
        return "failed" if _answer_failure(run, *opened) else None
    return (
        "succeeded"
        if _answer_success(run, opened.number, opened.head_sha, opened.head_ref, opened.html_url)
        else None
    )


def _reported_pull_request(run: CodegenRun, pull: OpenedPullRequest) -> tuple[str, str] | github.PullRequest:
    """The reported pull request, or the (error, cause) that stops the run being answered with it."""
    match = _PULL_NUMBER.search(pull.url or "")
    if match is None:
        return "NoPullRequest", f"run {run.external_id} reports a PR without a number: {pull.url}"
    with transaction() as conn:
        task = store.require_task(conn, run.task_id)
        repository = store.get_repository(conn, task.repository_id)
    assert repository is not None and repository.installation_id is not None
    opened = github.get_pull_request(repository.installation_id, repository.full_name, int(match.group(1)))
    facts = PullRequestFacts(
        repository=repository.full_name,
        number=opened.number,
        head_branch=opened.head_ref,
        head_repository=opened.head_repo_full_name,
        author=opened.user_login,
    )
    if refusal := _adoption_refusal(run, facts):
        return "PullRequestNotAdopted", f"run {run.external_id} reports {refusal}"
    if run.attempt > 1 and opened.head_sha == task.head_sha:
        return "NoNewCommits", f"run {run.external_id} finished without pushing to PR #{opened.number}"
    return opened


# -- answering the token ----------------------------------------------------------------------------


def _answer_success(
    run: CodegenRun,
    pr_number: int,
    head_sha: str,
    branch: str | None,
    pr_url: str | None,
    pull_requests: list[dict[str, Any]] | None = None,
) -> bool:
    with transaction(actor=ACTOR, correlation_id=run.execution_name) as conn:
        answered = runs.answer_run(
            conn, run.id, pr_number=pr_number, head_sha=head_sha, pull_requests=pull_requests
        )
        if answered is None:
            return False
        costs.record_agent_run(conn, run)
        store.update_task(
            conn, run.task_id, pr_number=pr_number, pr_url=pr_url, head_sha=head_sha, branch=branch
        )
    _link_linear_issue(run, pr_number)
    output = {"run_id": run.external_id, "pr_number": pr_number, "head_sha": head_sha}
    if not _send(run, lambda token: workflows.send_success(token, output)):
        return False
    ledger.step_finished(run.execution_name or "", str(run.task_id), STEP, run.attempt, "succeeded")
    metrics.add_metric(name="AgentRunSucceeded", unit="Count", value=1)
    return True


def _link_linear_issue(run: CodegenRun, pr_number: int) -> None:
    """Append ``Fixes ENG-123`` to the task's pull request when it came from Linear and the agent,
    only asked to in its prompt, left it out: Linear's own GitHub integration links them by it.
    A failure is logged, never stops the run's answer."""
    with transaction() as conn:
        task = store.require_task(conn, run.task_id)
        repository = store.get_repository(conn, task.repository_id)
    if not linear_reference(task.metadata) or repository is None or repository.installation_id is None:
        return
    try:
        pull = github.get_pull_request(repository.installation_id, repository.full_name, pr_number)
        body = body_linking_linear_issue(pull.body, task.metadata)
        if body is not None:
            github.update_pull_request_body(repository.installation_id, repository.full_name, pr_number, body)
    except github.GitHubError as exc:
        logger.warning(
            "could not link the Linear issue in the pull request",
            extra={"run": run.external_id, "pr_number": pr_number, "error": str(exc)},
        )


def _answer_failure(run: CodegenRun, error: str, cause: str) -> bool:
    with transaction(actor=ACTOR, correlation_id=run.execution_name) as conn:
        if runs.answer_run(conn, run.id, pr_number=None, head_sha=None) is None:
            return False
        costs.record_agent_run(conn, run)
    if not _send(run, lambda token: workflows.send_failure(token, error, cause)):
        return False
    ledger.step_finished(
        run.execution_name or "", str(run.task_id), STEP, run.attempt, "failed", f"{error}: {cause}"
    )
    metrics.add_metric(name=f"Agent{error}", unit="Count", value=1)
    return True


def _send(run: CodegenRun, send: Any) -> bool:
    """Send the answer; if it could not be delivered for a reason that may pass, un-answer the run."""
    if not run.task_token:
        logger.warning("run has no task token to answer", extra={"run": run.external_id})
        return False
    try:
        send(run.task_token)
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        if code in _GONE_TOKEN_ERRORS:
            logger.info("the step no longer waits for this run", extra={"run": run.external_id, "code": code})
            return False
        with transaction(actor=ACTOR) as conn:
            runs.unanswer_run(conn, run.id)
        raise
    return True


# -- the agent's pull request ---------------------------------------------------------------------


def on_agent_pull_request(pull: PullRequestFacts, head_sha: str) -> bool:
    """Answer the run waiting for this opened or synchronized pull request, if it is the agent's.

    Returns whether a run was answered. The webhook often arrives before the sweeper's next poll
    has seen the run report its branch, so when nothing matches what is stored, the waiting
    runs are read afresh once.
    """
    with transaction() as conn:
        waiting = runs.unanswered_runs_for_repository(conn, pull.repository)
    if _answer_matching(waiting, pull, head_sha):
        return True
    refreshed = [_refreshed(run) for run in waiting if run.external_id and run.provider in AGENT_PROVIDERS]
    return _answer_matching(refreshed, pull, head_sha)


def _answer_matching(waiting: list[CodegenRun], pull: PullRequestFacts, head_sha: str) -> bool:
    for run in reversed(waiting):  # newest first
        if refusal := _adoption_refusal(run, pull):
            logger.info("pull request not adopted", extra={"run": run.external_id, "reason": refusal})
            continue
        with transaction() as conn:
            task = store.require_task(conn, run.task_id)
        if run.attempt > 1 and head_sha == task.head_sha:
            continue  # the PR as the previous attempt left it: not this attempt's work yet
        pull_requests = _with_pull_request(run, pull)
        pr_url = f"{_web_base()}/{pull.repository}/pull/{pull.number}"
        return _answer_success(run, pull.number, head_sha, pull.head_branch, pr_url, pull_requests)
    return False


def _adoption_refusal(run: CodegenRun, pull: PullRequestFacts) -> str | None:
    with transaction() as conn:
        branches = runs.agent_branches(conn, run.task_id)
    return adoption_refusal(pull, agent_branches=branches, bot_logins=bot_logins(run.provider))


def _refreshed(run: CodegenRun) -> CodegenRun:
    """The run with the pull requests its provider reports now (stored too); as it was if unreadable."""
    try:
        result = provider_named(run.provider).get_run(str(run.external_id))
    except ProviderError as exc:
        logger.warning("agent run could not be read", extra={"run": run.external_id, "error": str(exc)})
        return run
    _store_progress(run, result)
    return run.model_copy(update={"pull_requests": [pr.model_dump() for pr in result.pull_requests]})


def _with_pull_request(run: CodegenRun, pull: PullRequestFacts) -> list[dict[str, Any]]:
    known = [
        reported
        for reported in run.pull_requests
        if str(reported.get("url", "")).rstrip("/").endswith(f"/pull/{pull.number}")
    ]
    if known:
        return list(run.pull_requests)
    url = f"{_web_base()}/{pull.repository}/pull/{pull.number}"
    return [*run.pull_requests, OpenedPullRequest(url=url, head_branch=pull.head_branch).model_dump()]


def _web_base() -> str:
    return f"https://{get_settings().github_web_host}"


# -- tasks waiting for a provider -----------------------------------------------------------------


def _resume_waiting_tasks(now: datetime, summary: SweepSummary) -> None:
    """Send a waiting task's step message again once one of its providers admits calls.

    A closed breaker takes every waiting task; one whose probe is due takes only the oldest
    (the probe), so the rest do not all bounce back into waiting.
    """
    with transaction() as conn:
        waits = runs.provider_waits(conn)
    if not waits:
        return
    policy = breaker_policy()
    probing: set[str] = set()
    queue_url = str(get_settings().require("codegen_queue_url"))
    for wait in waits:
        with transaction() as conn:
            states = {name: runs.get_breaker(conn, name) for name in wait.providers}
        closed = any(state.state is breakers.BreakerState.CLOSED for state in states.values())
        due = [name for name, state in states.items() if breakers.may_admit(state, now, policy)]
        if not closed and not [name for name in due if name not in probing]:
            continue
        if not closed:
            probing.add(next(name for name in due if name not in probing))
        with transaction(actor=ACTOR, correlation_id=wait.execution_name) as conn:
            if runs.delete_provider_wait(conn, wait.task_id, wait.attempt):
                _send_to_codegen_queue(queue_url, wait.message)
                summary.resumed += 1


def _send_to_codegen_queue(queue_url: str, message: dict[str, Any]) -> None:
    from codeloop.adapters.aws import client

    client("sqs").send_message(QueueUrl=queue_url, MessageBody=json.dumps(message, separators=(",", ":")))
