"""The ValidatePR step: validate the agent's pull request head, then read the repository's own CI.

It runs on the trusted side (the status syncer), in two halves around the untrusted runner:
:func:`prepare_validation_step` (the validation queue's message) reads PostgreSQL, GitHub and the
default branch's configuration, decides whether anything may run, mints a token for the one
repository with ``contents: read`` and starts the runner (``adapters.validation_launcher``);
:func:`finish_validation` (the runner's report on the status queue) stores the row and answers.

The step answers ``{passed, same_failure, verdict, validation_run_id}``. Outcomes:

- ``passed`` / ``failed``: answered at once; ``same_failure`` is true when the failure signature
  equals the one of the task's previous validation (another attempt would not help).
- nothing may run (``not_run``: a PR that changes protected paths, or whose file list GitHub
  cut short (it could hide one), a fork PR without ``validation.forks``, no test commands, an
  invalid ``.github/codeloop.yml``): the row is stored with the hint and the step fails with
  ``ValidationNotRun`` (the cause carries the hint). A repository that cannot be validated does
  not burn the agent's iterations, and the status syncer shows why on the PR.
- ``error`` (ours: the checkout failed): the row is stored and the step fails with
  ``Retryable``, which the state machine retries a few times before recording the failure.
  When the error is a blocking AI review that could not be obtained for code that passed, the
  step fails with ``ReviewUnavailable`` instead: repeating the tests would not bring the
  reviewer back, and the agent has nothing to fix (the check run offers a Re-run).
- our commands passed and ``validation.include_repo_checks`` is on while other Apps' check
  suites still run on the head commit: the row becomes ``waiting_checks`` with the task token
  and a deadline, and the step is pending (no Lambda waits). :func:`on_check_suite_completed`
  (a ``check_suite`` webhook) or :func:`sweep_waiting_validations` (every minute: heartbeats,
  missed webhooks, deadlines) folds the CI's conclusions in and answers the token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import Connection
from pydantic import BaseModel, ValidationError

from codeloop.adapters import github, validation_launcher, workflows
from codeloop.db import store, validation_store
from codeloop.db.pool import transaction
from codeloop.db.validation_store import ValidationRun, WaitingValidationRun
from codeloop.domain.commands import from_fork
from codeloop.domain.protected_paths import incomplete_file_list
from codeloop.domain.repo_checks import (
    CheckRunState,
    RepoChecks,
    SuiteState,
    fold_checks,
    others,
    unfinished_suites,
)
from codeloop.domain.repo_config import RepoConfig
from codeloop.domain.steps import StepFailed, StepMessage, StepPending
from codeloop.domain.validation import (
    ValidationReport,
    config_problem_report,
    error_report,
    not_run_report,
    protected_paths_hint,
    reason_not_to_run,
    with_repo_checks,
    with_review,
)
from codeloop.domain.validation_request import ValidationJob, ValidationRequest, ValidationResult
from codeloop.observability import logger
from codeloop.services.learning import memory
from codeloop.services.repository_config import load_repo_config
from codeloop.services.tasks import ledger
from codeloop.services.tasks.steps import answer_step
from codeloop.services.validation.review import review_pull_request
from codeloop.settings import get_settings

STEP = "ValidatePR"
ACTOR = "validation"
# SendTask* errors that mean the workflow no longer waits on this token.
TOKEN_GONE = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})


class ValidatePRInput(BaseModel):
    """The fields of the ValidatePR message beyond the common ones (DispatchCodegen's output)."""

    pr_number: int
    head_sha: str


@dataclass(frozen=True)
class PullRequestContext:
    installation_id: int
    full_name: str
    clone_url: str
    default_branch: str
    pull_request: github.PullRequest
    is_fork: bool


# -- the step ---------------------------------------------------------------------------------


def prepare_validation_step(message: StepMessage) -> dict[str, Any]:
    """The trusted half of ValidatePR (the status syncer, on the validation queue): decide whether
    anything may run, and if so start the runner with a self-contained request and leave the step
    pending; :func:`finish_validation` concludes it when the runner's report comes back."""
    try:
        target = ValidatePRInput.model_validate(message.extra)
    except ValidationError as exc:
        raise StepFailed("InvalidMessage", f"ValidatePR needs pr_number and head_sha: {exc}") from None
    started_at = datetime.now(UTC)
    context = _pull_request_context(message.task_id, target.pr_number)
    config, report = _repo_config(context, target.head_sha)
    job = ValidationJob(
        task_token=message.task_token,
        execution_name=message.execution_name,
        task_id=message.task_id,
        attempt=message.attempt,
        pr_number=target.pr_number,
        head_sha=target.head_sha,
        started_at=started_at,
        installation_id=context.installation_id,
        full_name=context.full_name,
        base_ref=context.pull_request.base_ref,
        include_repo_checks=config.validation.include_repo_checks,
        review=config.validation.review,
    )
    changed: set[str] = set()
    if report is None:
        changed, incomplete = _changed_paths(context)
        if reason := reason_not_to_run(
            config, is_fork=context.is_fork, changed_paths=changed, incomplete_file_list=incomplete
        ):
            hint = protected_paths_hint(changed, config, incomplete) if reason == "protected_paths" else None
            report = not_run_report(reason, target.head_sha, hint)
    if report is not None:
        return conclude(job, report)
    validation_launcher.start(_request(context, config, job, changed))
    raise StepPending


def _request(
    context: PullRequestContext, config: RepoConfig, job: ValidationJob, changed_paths: set[str]
) -> ValidationRequest:
    """What the runner gets: the commands, and a token for this one repository, contents: read."""
    token = github.installation_token(context.installation_id, context.full_name, github.CONTENTS_READ)
    return ValidationRequest(
        job=job,
        clone_url=context.clone_url,
        token=token,
        validation=config.validation,
        changed_paths=sorted(changed_paths),
    )


def finish_validation(result: ValidationResult) -> None:
    """The runner's report (status queue): conclude the step and answer its token. A report whose
    token is not one the workflow is waiting on for that task is dropped: the runner cannot speak
    for another task."""
    job = result.job
    with transaction() as conn:
        waiting = store.waiting_step_tokens(conn, job.task_id)
    if job.task_token not in waiting:
        logger.warning("validation report for no waiting step dropped", extra={"task_id": job.task_id})
        return
    message = StepMessage(
        task_token=job.task_token,
        execution_name=job.execution_name,
        step=STEP,
        task_id=job.task_id,
        attempt=job.attempt,
    )
    report = with_review(result.report, review_pull_request(job, result.report))
    answer_step(message, lambda _: conclude(job, report))


def conclude(job: ValidationJob, report: ValidationReport) -> dict[str, Any]:
    """Store the report and answer as the step: mark its flaky tests that other tasks' validations
    of the repository found flaky too; fold in (or wait for) the repository's CI when our commands passed; fail the step when nothing ran (``ValidationNotRun``) or on our error
    (``Retryable``)."""
    saved = {
        "task_id": job.task_id,
        "attempt": job.attempt,
        "head_sha": job.head_sha,
        "started_at": job.started_at,
        "pr_number": job.pr_number,
        "execution_name": job.execution_name,
        "tree_sha": _tree_sha(job) if report.verdict == "passed" else None,
    }
    if report.flaky_tests:
        with transaction() as conn:
            elsewhere = validation_store.flaky_in_other_tasks(conn, job.full_name, job.task_id, report.flaky_tests)
        report = report.model_copy(update={"flaky_elsewhere": elsewhere})
    if report.verdict == "passed" and job.include_repo_checks:
        runs, unfinished = _read_repo_checks(job.installation_id, job.full_name, job.head_sha)
        if unfinished:
            _start_wait(job, report, saved, unfinished)
        report = with_repo_checks(report, _fold(job.installation_id, job.full_name, job.base_ref, runs))
    with transaction(actor=ACTOR, correlation_id=job.execution_name) as conn:
        run = validation_store.save_validation_run(conn, report=report, status=report.verdict, **saved)
        output = step_output(conn, run, report)
    if report.verdict == "not_run":
        raise StepFailed("ValidationNotRun", "\n\n".join(filter(None, (report.summary, report.hint))))
    if report.verdict == "error" and report.review is not None and report.review.missing:
        raise StepFailed("ReviewUnavailable", report.summary)
    if report.verdict == "error":
        raise StepFailed("Retryable", report.summary)
    return output


def _tree_sha(job: ValidationJob) -> str | None:
    """The validated commit's git tree, kept so a merge group of the same tree is known green
    (``services.reporting.merge_queue``); None when GitHub cannot say (the merge group is then neutral)."""
    try:
        return github.commit_tree_sha(job.installation_id, job.full_name, job.head_sha)
    except github.GitHubError as exc:
        logger.warning("the validated commit's tree is unknown", extra={"error": str(exc)[:300]})
        return None


def _pull_request_context(task_id: str, pr_number: int) -> PullRequestContext:
    with transaction() as conn:
        task = store.require_task(conn, task_id)
        repository = store.get_repository(conn, task.repository_id)
    if repository is None or repository.installation_id is None or not repository.active:
        raise StepFailed("RepositoryNotInstalled", f"task {task_id}'s repository is not installed")
    installation_id = repository.installation_id
    info = github.get_repository(installation_id, repository.full_name)
    try:
        pull_request = github.get_pull_request(installation_id, repository.full_name, pr_number)
    except github.GitHubNotFound:
        raise StepFailed(
            "PullRequestNotFound", f"{repository.full_name}#{pr_number} does not exist"
        ) from None
    return PullRequestContext(
        installation_id=installation_id,
        full_name=info.full_name,
        clone_url=info.clone_url,
        default_branch=info.default_branch,
        pull_request=pull_request,
        is_fork=from_fork(pull_request.head_repo_full_name, info.full_name),
    )


def _repo_config(context: PullRequestContext, head_sha: str) -> tuple[RepoConfig, ValidationReport | None]:
    """The configuration from the DEFAULT branch (a PR cannot change what runs on it), or the
    not-run report of an invalid file."""
    config, problem = load_repo_config(context.installation_id, context.full_name, ref=context.default_branch)
    return config, (None if problem is None else config_problem_report(problem, head_sha))


def _changed_paths(context: PullRequestContext) -> tuple[set[str], str | None]:
    """Every path GitHub lists for the pull request, a renamed file's old path included, and why
    that may not be all of them (None when it is)."""
    files = github.list_pull_request_files(
        context.installation_id, context.full_name, context.pull_request.number
    )
    paths = {path for file in files for path in (file.filename, file.previous_filename) if path}
    return paths, incomplete_file_list(len(files), context.pull_request.changed_files)


def step_output(conn: Connection, run: ValidationRun, report: ValidationReport) -> dict[str, Any]:
    """The step's answer; ``same_failure`` compares with the task's previous validation. A pass
    right after a failure is remembered (failure memory)."""
    previous = validation_store.previous_validation_run(conn, run.task_id, run.attempt)
    memory.remember_fix(conn, run, report, previous)
    same_failure = (
        report.verdict == "failed"
        and report.failure_signature is not None
        and previous is not None
        and previous.failure_signature == report.failure_signature
    )
    return {
        "passed": report.verdict == "passed",
        "same_failure": same_failure,
        "verdict": report.verdict,
        "validation_run_id": str(run.id),
    }


# -- the repository's own CI ------------------------------------------------------------------


def _check_runs(installation_id: int, full_name: str, sha: str) -> list[CheckRunState]:
    return [
        CheckRunState(
            name=run.name,
            app=run.app_slug,
            app_id=run.app_id,
            status=run.status,
            conclusion=run.conclusion,
            url=run.html_url or run.details_url,
        )
        for run in github.list_check_runs(installation_id, full_name, sha)
    ]


def _read_repo_checks(
    installation_id: int, full_name: str, head_sha: str
) -> tuple[list[CheckRunState], list[SuiteState]]:
    """The head commit's check runs, and the other Apps' check suites still running."""
    suites = [
        SuiteState(app=suite.app_slug, app_id=suite.app_id, status=suite.status, conclusion=suite.conclusion)
        for suite in github.list_check_suites(installation_id, full_name, head_sha)
    ]
    runs = _check_runs(installation_id, full_name, head_sha)
    return runs, unfinished_suites(suites, runs, get_settings().github_app_id)


def _fold(
    installation_id: int,
    full_name: str,
    base_ref: str,
    runs: list[CheckRunState],
    *,
    complete: bool = True,
    waited_minutes: float | None = None,
) -> RepoChecks:
    own_app_id = get_settings().github_app_id
    base_failures: set[tuple[str | None, str]] = set()
    if any(run.failed for run in others(runs, own_app_id)):
        base_head = github.list_commits(installation_id, full_name, ref=base_ref, limit=1)
        if base_head:
            base_runs = _check_runs(installation_id, full_name, base_head[0].sha)
            base_failures = {run.key for run in base_runs if run.failed}
    return fold_checks(
        runs, base_failures, own_app_id=own_app_id, complete=complete, waited_minutes=waited_minutes
    )


def _start_wait(
    job: ValidationJob, report: ValidationReport, saved: dict[str, Any], unfinished: list[SuiteState]
) -> None:
    """Keep the token with the row and end this invocation; the CI's completion answers it."""
    deadline = datetime.now(UTC) + timedelta(minutes=get_settings().repo_checks_wait_minutes)
    with transaction(actor=ACTOR, correlation_id=job.execution_name) as conn:
        run = validation_store.save_validation_run(
            conn,
            report=report,
            status="waiting_checks",
            task_token=job.task_token,
            checks_deadline_at=deadline,
            **saved,
        )
    apps = sorted({suite.app or "?" for suite in unfinished})
    logger.info("waiting for the repository's CI", extra={"apps": apps, "deadline": deadline.isoformat()})
    ledger.announce(
        job.task_id, "validation_waiting_checks", attempt=job.attempt, validation_run_id=str(run.id)
    )
    raise StepPending


def on_check_suite_completed(repo_full_name: str, head_sha: str) -> bool:
    """A check suite finished on ``head_sha``: end the waits on that commit whose CI is now
    complete. True when at least one wait ended (its token answered)."""
    with transaction() as conn:
        waiting = validation_store.waiting_runs_for_commit(conn, repo_full_name, head_sha)
    ended = False
    for run in waiting:
        ended = _conclude_wait(run, deadline_passed=False) or ended
    return ended


@dataclass(frozen=True)
class SweepResult:
    ended: int  # waits ended: CI complete (a missed webhook) or the deadline passed
    waiting: int  # still waiting; their tokens were sent a heartbeat


def sweep_waiting_validations(now: datetime, *, limit: int = 100) -> SweepResult:
    """Run every minute: end waits whose CI finished unseen or whose deadline passed (deciding on
    what finished, and saying so), and heartbeat the rest (ValidatePR's HeartbeatSeconds)."""
    with transaction() as conn:
        waiting = validation_store.waiting_runs(conn, limit=limit)
    ended = still = 0
    for run in waiting:
        try:
            deadline_passed = run.checks_deadline_at is not None and run.checks_deadline_at <= now
            if _conclude_wait(run, deadline_passed=deadline_passed) or not _keep_alive(run):
                ended += 1
            else:
                still += 1
        except Exception:  # one run's trouble must not stop the sweep of the others
            logger.exception("sweeping a validation wait failed", extra={"validation_run_id": str(run.id)})
    return SweepResult(ended=ended, waiting=still)


def _conclude_wait(run: WaitingValidationRun, *, deadline_passed: bool) -> bool:
    """Fold the CI into the run's report and answer its token, once the CI is complete or the
    deadline passed; False while it still runs (or when another caller ended it first)."""
    if run.installation_id is None:
        return _abandon(run, "the repository is no longer installed")
    runs, unfinished = _read_repo_checks(run.installation_id, run.repository_full_name, run.head_sha)
    if unfinished and not deadline_passed:
        return False
    pull_request = github.get_pull_request(run.installation_id, run.repository_full_name, run.pr_number or 0)
    checks = _fold(
        run.installation_id,
        run.repository_full_name,
        pull_request.base_ref,
        runs,
        complete=not unfinished,
        waited_minutes=_waited_minutes(run),
    )
    return _answer(run, with_repo_checks(run.report, checks))


def _keep_alive(run: WaitingValidationRun) -> bool:
    """Heartbeat a waiting run's token; False (and the run ended) when the workflow gave up on it."""
    try:
        workflows.send_heartbeat(run.task_token or "")
    except Exception as exc:
        if workflows.error_code(exc) not in TOKEN_GONE:
            raise
        _abandon(run, "the workflow stopped waiting for this validation")
        return False
    return True


def _abandon(run: WaitingValidationRun, why: str) -> bool:
    report = error_report(f"Stopped waiting for the repository's CI: {why}", run.head_sha)
    with transaction(actor=ACTOR, correlation_id=run.execution_name) as conn:
        ended = validation_store.finish_waiting_run(conn, run.id, report, "error") is not None
    if ended and run.execution_name:
        ledger.step_finished(
            run.execution_name, str(run.task_id), STEP, run.attempt, "failed", report.summary
        )
    return ended


def _answer(run: WaitingValidationRun, report: ValidationReport) -> bool:
    """Store the final report and send the step's answer in one transaction: a failed send leaves
    the run waiting for the next webhook or sweep; a token the workflow no longer knows ends it."""
    with transaction(actor=ACTOR, correlation_id=run.execution_name) as conn:
        finished = validation_store.finish_waiting_run(conn, run.id, report, report.verdict)
        if finished is None:
            return False
        output = step_output(conn, finished, report)
        outcome, error = "succeeded", None
        try:
            workflows.send_success(run.task_token or "", output)
        except Exception as exc:
            if workflows.error_code(exc) not in TOKEN_GONE:
                raise
            outcome, error = "failed", f"the workflow no longer waited ({workflows.error_code(exc)})"
            logger.warning("validation token no longer valid", extra={"validation_run_id": str(run.id)})
    if run.execution_name:
        ledger.step_finished(run.execution_name, str(run.task_id), STEP, run.attempt, outcome, error)
    return True


def _waited_minutes(run: WaitingValidationRun) -> float | None:
    if run.checks_deadline_at is None:
        return None
    started = run.checks_deadline_at - timedelta(minutes=get_settings().repo_checks_wait_minutes)
    return max(0.0, (datetime.now(UTC) - started).total_seconds() / 60)
