"""Code-generation providers: the interface, the normalised run result, and how errors classify.

A provider turns a prompt into code changes for a repository. Some (the Codegen API) run an
agent that opens its own pull request and is polled later; others (an OpenAI-compatible model)
answer at once with the changed files, which the caller pushes as a branch and pull request.
Every provider reports through the same ``RunResult`` and raises the same error classes, so the
dispatcher and the call retry policy never look at HTTP status codes.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Protocol, runtime_checkable

from pydantic import Field

from codeloop.domain.frozen import Frozen

# Keys codeloop puts in a run's metadata so a run can be matched back to its task.
TASK_ID_KEY = "codeloop_task_id"
ATTEMPT_KEY = "codeloop_attempt"


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)


# Every spelling seen for a run status (lower-cased), from the Codegen docs and its own tools.
_STATUS_SPELLINGS: dict[str, RunStatus] = {
    "queued": RunStatus.QUEUED,
    "pending": RunStatus.QUEUED,
    "in_progress": RunStatus.RUNNING,
    "running": RunStatus.RUNNING,
    "active": RunStatus.RUNNING,
    "evaluating": RunStatus.RUNNING,
    "completed": RunStatus.COMPLETED,
    "complete": RunStatus.COMPLETED,
    "succeeded": RunStatus.COMPLETED,
    "success": RunStatus.COMPLETED,
    "failed": RunStatus.FAILED,
    "failure": RunStatus.FAILED,
    "error": RunStatus.FAILED,
    "errored": RunStatus.FAILED,
    "timeout": RunStatus.FAILED,
    "cancelled": RunStatus.CANCELLED,
    "canceled": RunStatus.CANCELLED,
    "stopped": RunStatus.CANCELLED,
}


def normalise_status(raw: str | None) -> RunStatus:
    """A provider's free-form status as one of ours; unknown or missing means still running.

    Treating the unknown as running is safe because every wait is bounded by a deadline.
    """
    if not raw:
        return RunStatus.RUNNING
    key = raw.strip().lower().replace("-", "_").replace(" ", "_")
    return _STATUS_SPELLINGS.get(key, RunStatus.RUNNING)


class RunRepository(Frozen):
    """The repository a run works on, and the ref whose files a diff-based provider reads."""

    full_name: str = Field(description="owner/name")
    github_id: int | None = None
    ref: str | None = Field(
        default=None, description="Branch or commit to read files at (default branch if None)."
    )
    codegen_repo_id: int | None = Field(default=None, description="Codegen's own id, when already known.")


class RunRequest(Frozen):
    task_id: str
    attempt: int = Field(ge=0, description="0 for the first try, then one per fix iteration.")
    prompt: str = Field(min_length=1)
    repository: RunRepository
    metadata: dict[str, str | int | bool] = Field(default_factory=dict)
    protected_paths: tuple[str, ...] = Field(
        default=(), description="The repository's protected_paths globs: a diff provider refuses them."
    )
    prompt_name: str | None = Field(default=None, description="template@version of the prompt (the ledger's).")

    def run_metadata(self) -> dict[str, str | int | bool]:
        """What is stored with the run: the caller's metadata plus the keys that match it back."""
        return {**self.metadata, TASK_ID_KEY: self.task_id, ATTEMPT_KEY: self.attempt}


class OpenedPullRequest(Frozen):
    """A pull request an agent run opened, as its provider reports it."""

    id: int | None = None
    url: str | None = None
    title: str | None = None
    head_branch: str | None = None


class RunResult(Frozen):
    provider: str
    run_id: str
    status: RunStatus
    raw_status: str | None = None
    web_url: str | None = None
    pull_requests: tuple[OpenedPullRequest, ...] = ()
    summary: str | None = None
    error: str | None = None
    metadata: dict[str, object] = Field(default_factory=dict)
    changed_files: dict[str, str | None] | None = Field(
        default=None,
        description="For providers that do not push: path → new content, None = delete. The caller pushes.",
    )
    file_modes: dict[str, str] = Field(
        default_factory=dict, description="Modes the diff sets (100644/100755); other files keep theirs."
    )

    def matches(self, task_id: str, attempt: int) -> bool:
        return str(self.metadata.get(TASK_ID_KEY)) == task_id and str(self.metadata.get(ATTEMPT_KEY)) == str(
            attempt
        )


@runtime_checkable
class CodeGenerationProvider(Protocol):
    name: str
    # True when the provider opens its own pull requests (Codegen); False when the caller must
    # push ``RunResult.changed_files`` itself.
    opens_pull_requests: bool

    def create_run(self, request: RunRequest) -> RunResult: ...

    def get_run(self, run_id: str) -> RunResult: ...

    def resume_run(self, run_id: str, request: RunRequest) -> RunResult:
        """Continue a run with ``request.prompt`` (a fix iteration)."""
        ...

    def find_run(self, task_id: str, attempt: int) -> RunResult | None:
        """The run created for this task and attempt, if any: used after ``OutcomeUnknown``."""
        ...


# -- errors ---------------------------------------------------------------------------------


class ErrorClass(StrEnum):
    RATE_LIMITED = "rate_limited"
    PLAN_LIMIT = "plan_limit"
    RETRYABLE = "retryable"
    OUTCOME_UNKNOWN = "outcome_unknown"
    FINAL = "final"


class ProviderError(Exception):
    """A provider call failed; the subclass says what the caller may do about it."""

    error_class: ErrorClass = ErrorClass.FINAL

    def __init__(self, provider: str, message: str, *, status_code: int | None = None):
        self.provider = provider
        self.status_code = status_code
        super().__init__(f"{provider}: {message}")


class RateLimited(ProviderError):
    """429: try again after ``retry_after`` seconds (by re-queueing, never by sleeping)."""

    error_class = ErrorClass.RATE_LIMITED

    def __init__(self, provider: str, message: str, *, retry_after: float, status_code: int | None = 429):
        self.retry_after = retry_after
        super().__init__(provider, message, status_code=status_code)


class PlanLimitReached(ProviderError):
    """402: the plan's run allowance is spent. Final until someone upgrades the plan."""

    error_class = ErrorClass.PLAN_LIMIT


class RetryableCall(ProviderError):
    """5xx, a timeout before anything was created, a refused or dropped connection: the call may be
    repeated (per the call retry policy of ``ErrorClass.RETRYABLE``)."""

    error_class = ErrorClass.RETRYABLE


class OutcomeUnknown(ProviderError):
    """A create may have been received before the call failed: reconcile with ``find_run`` first.

    Deliberately not a ``RetryableCall``: repeating the call blindly could start a second run.
    """

    error_class = ErrorClass.OUTCOME_UNKNOWN


class FinalError(ProviderError):
    """Any other 4xx, or an answer that cannot be used: retrying will not help."""

    error_class = ErrorClass.FINAL


# -- which providers, in which order ------------------------------------------------------------


class NoProviderAvailable(ValueError):
    """The repository asked only for providers this deployment does not enable."""


def order_providers(enabled: Iterable[str], repo_choice: Iterable[str] | None) -> list[str]:
    """The providers to try, in order: the repository's choice among the enabled ones, or all enabled.

    ``enabled`` is the deployment's ordered list (settings ``PROVIDERS``); a repository may narrow
    and reorder it (``providers`` in ``.github/codeloop.yml``) but never add to it.
    """
    enabled_order = _unique(name.strip().lower() for name in enabled)
    if repo_choice is None:
        return enabled_order
    wanted = _unique(name.strip().lower() for name in repo_choice)
    chosen = [name for name in wanted if name in enabled_order]
    if not chosen:
        raise NoProviderAvailable(
            f"the repository asks for providers {wanted} but this deployment enables only {enabled_order}"
        )
    return chosen


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(name for name in names if name))
