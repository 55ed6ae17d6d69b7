"""The repository's own CI on a pull request's head (``validation.include_repo_checks``).

Pure logic. Check suites say whether the CI is still running; check runs say what it concluded.
A check that fails on the head AND on the base branch's head commit is reported as already
failing on the base and not blamed on the pull request. codeloop's own checks are left out:
they are the ones whose App id is codeloop's (``GITHUB_APP_ID``), whatever the App is called.

GitHub creates a check suite, status ``queued``, for every installed App with checks permission
on every push, and an App that never runs anything leaves it queued forever: a queued suite whose
App has no check run on the commit is therefore not waited for.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Literal

from pydantic import Field

from codeloop.domain.frozen import Frozen

# Conclusions that fail a check; neutral, skipped, cancelled, stale and action_required do not.
FAILING_CONCLUSIONS = frozenset({"failure", "timed_out", "startup_failure"})
PASSING_CONCLUSIONS = frozenset({"success"})

Outcome = Literal["passed", "failed", "failing_on_base", "not_finished", "neutral"]


class SuiteState(Frozen):
    app: str | None  # the App's slug, for people
    app_id: int | None = None
    status: str | None
    conclusion: str | None = None


class CheckRunState(Frozen):
    name: str
    app: str | None  # the App's slug, for people
    app_id: int | None = None
    status: str
    conclusion: str | None = None
    url: str | None = None

    @property
    def key(self) -> tuple[str | None, str]:
        return (self.app, self.name)

    @property
    def failed(self) -> bool:
        return self.status == "completed" and self.conclusion in FAILING_CONCLUSIONS


class RepoCheck(Frozen):
    name: str
    app: str | None
    conclusion: str | None  # None: it had not finished
    outcome: Outcome
    url: str | None = None


class RepoChecks(Frozen):
    checks: list[RepoCheck]
    complete: bool  # every check suite had finished
    notes: list[str] = Field(default_factory=list)

    @property
    def blamed(self) -> list[RepoCheck]:
        return [check for check in self.checks if check.outcome == "failed"]

    def count(self, outcome: Outcome) -> int:
        return sum(1 for check in self.checks if check.outcome == outcome)


def others(items: Iterable[SuiteState | CheckRunState], own_app_id: int | None) -> list:
    """What other Apps reported (codeloop's own suites and check runs, known by App id, left out)."""
    return [item for item in items if own_app_id is None or item.app_id != own_app_id]


def unfinished_suites(
    suites: Iterable[SuiteState], runs: Iterable[CheckRunState], own_app_id: int | None
) -> list[SuiteState]:
    """The suites of other Apps still running (see the module note on suites left queued)."""
    apps_with_runs = {run.app_id for run in runs}
    return [
        suite
        for suite in others(suites, own_app_id)
        if suite.status != "completed" and (suite.status != "queued" or suite.app_id in apps_with_runs)
    ]


def fold_checks(
    head_runs: Iterable[CheckRunState],
    base_failures: Collection[tuple[str | None, str]],
    *,
    own_app_id: int | None,
    complete: bool,
    waited_minutes: float | None = None,
) -> RepoChecks:
    """The outcome of each other App's check run on the head commit.

    ``base_failures``: (app, name) of the check runs failing on the base branch's head commit.
    ``complete`` False means the wait ended at its deadline: what had not finished is said so
    and decided without.
    """
    checks: list[RepoCheck] = []
    notes: list[str] = []
    for run in sorted(others(head_runs, own_app_id), key=lambda r: (r.app or "", r.name)):
        outcome: Outcome
        if run.status != "completed":
            outcome = "not_finished"
        elif run.failed:
            outcome = "failing_on_base" if run.key in base_failures else "failed"
        elif run.conclusion in PASSING_CONCLUSIONS:
            outcome = "passed"
        else:
            outcome = "neutral"
        checks.append(
            RepoCheck(
                name=run.name,
                app=run.app,
                conclusion=run.conclusion if run.status == "completed" else None,
                outcome=outcome,
                url=run.url,
            )
        )
    on_base = [check.name for check in checks if check.outcome == "failing_on_base"]
    if on_base:
        notes.append(
            f"Already failing on the base branch, not counted against this pull request: {', '.join(on_base)}"
        )
    unfinished = [check.name for check in checks if check.outcome == "not_finished"]
    if not complete:
        waited = f" after {waited_minutes:.0f} minutes" if waited_minutes is not None else ""
        named = f": {', '.join(unfinished)}" if unfinished else ""
        notes.append(
            f"The repository's CI had not finished{waited}{named}; decided on the checks that had finished"
        )
    return RepoChecks(checks=checks, complete=complete, notes=notes)
