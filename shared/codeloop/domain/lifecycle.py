"""The task lifecycle: the statuses a task moves through and the moves that are allowed.

A pure state machine. The data layer asks it before every status change, so an illegal move
raises here with a clear message instead of leaving a task in a state nothing expects.
"""

from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    PENDING = "pending"  # recorded, no workflow yet
    QUEUED = "queued"  # workflow execution started
    PROMPTING = "prompting"  # building the (fix) prompt
    GENERATING = "generating"  # the agent is working; waiting for its pull request
    WAITING_PROVIDER = "waiting_provider"  # every provider is unavailable; the sweeper resumes it
    VALIDATING = "validating"  # running the PR's own tests and reading its CI
    COMPLETED = "completed"  # validation passed (or the PR was merged)
    FAILED = "failed"  # a step failed or the iteration budget was spent
    CANCELLED = "cancelled"  # a maintainer cancelled it, or the PR was closed


TERMINAL = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})

_ALWAYS = {TaskStatus.FAILED, TaskStatus.CANCELLED}

ALLOWED: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.PENDING: frozenset({TaskStatus.QUEUED, *_ALWAYS}),
    TaskStatus.QUEUED: frozenset({TaskStatus.PROMPTING, *_ALWAYS}),
    TaskStatus.PROMPTING: frozenset({TaskStatus.GENERATING, *_ALWAYS}),
    TaskStatus.GENERATING: frozenset(
        {TaskStatus.VALIDATING, TaskStatus.WAITING_PROVIDER, TaskStatus.COMPLETED, *_ALWAYS}
    ),
    TaskStatus.WAITING_PROVIDER: frozenset({TaskStatus.GENERATING, *_ALWAYS}),
    # A failed validation with budget left goes back to PROMPTING for the fix prompt.
    TaskStatus.VALIDATING: frozenset({TaskStatus.COMPLETED, TaskStatus.PROMPTING, *_ALWAYS}),
    # `/codeloop validate` re-checks a finished task's PR; `retry` starts it over.
    TaskStatus.COMPLETED: frozenset({TaskStatus.VALIDATING}),
    TaskStatus.FAILED: frozenset({TaskStatus.QUEUED, TaskStatus.VALIDATING, TaskStatus.CANCELLED}),
    TaskStatus.CANCELLED: frozenset({TaskStatus.QUEUED}),
}


class IllegalTransition(ValueError):
    """A status change the lifecycle does not allow."""

    def __init__(self, current: TaskStatus, target: TaskStatus):
        self.current = current
        self.target = target
        allowed = ", ".join(sorted(ALLOWED[current])) or "nothing"
        super().__init__(
            f"a task cannot go from {current} to {target} (from {current} it may go to: {allowed})"
        )


def check_transition(current: str | TaskStatus, target: str | TaskStatus) -> TaskStatus:
    """The target status, if the move is allowed; raises IllegalTransition otherwise."""
    current, target = TaskStatus(current), TaskStatus(target)
    if target not in ALLOWED[current]:
        raise IllegalTransition(current, target)
    return target


def is_terminal(status: str | TaskStatus) -> bool:
    return TaskStatus(status) in TERMINAL
