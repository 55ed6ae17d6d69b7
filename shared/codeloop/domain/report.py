"""What codeloop shows on GitHub: one check run per attempt and one living comment per task.

Pure rendering. The status syncer fills a :class:`TaskView` from PostgreSQL every time something
changes and writes what :func:`render_check_run` and :func:`render_comment` return, so the same
state always renders the same text (duplicates and reordering converge).

Every text that came from outside (titles, errors, test output, agent URLs) goes through
:mod:`codeloop.domain.markdown` before it reaches Markdown, and every body stays within GitHub's
65,535 characters.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from codeloop.domain import markdown as md
from codeloop.domain.auto_merge import AutoMergeOutcome, outcome_text
from codeloop.domain.costs import TaskCost, cost_line
from codeloop.domain.failures import UNKNOWN_FAILURE, explain_failure
from codeloop.domain.lifecycle import TERMINAL, TaskStatus
from codeloop.domain.markdown import GITHUB_TEXT_LIMIT
from codeloop.domain.models import WorkflowStep
from codeloop.domain.review import AIReview
from codeloop.domain.test_results import TestFailure, strip_ansi
from codeloop.domain.validation import CommandResult, NotRunReason, ValidationReport, review_annotations

CHECK_RUN_NAME = "codeloop"
CHECK_RUN_TITLE_CHARS = 200

CheckRunStatus = Literal["queued", "in_progress", "completed"]
Conclusion = Literal["success", "failure", "neutral", "cancelled", "timed_out", "action_required"]

# Step Functions errors that mean a step ran out of time (its own timeout or missed heartbeats).
TIMEOUT_ERRORS = frozenset({"States.Timeout", "States.HeartbeatTimeout"})

STEP_NAMES = {
    "BuildPrompt": "Write the prompt",
    "BuildFixPrompt": "Write the fix prompt",
    "DispatchCodegen": "Agent writes the code",
    "ValidatePR": "Run the tests",
}
STEP_EMOJI = {"running": "⏳", "succeeded": "✅", "failed": "❌"}

# What a running task is doing, by status: the check run's title and the comment's headline.
DOING = {
    TaskStatus.PENDING: "Queued",
    TaskStatus.QUEUED: "Queued",
    TaskStatus.PROMPTING: "Writing the prompt",
    TaskStatus.GENERATING: "The agent is writing the code",
    TaskStatus.WAITING_PROVIDER: "Waiting for a code-generation agent to be available",
    TaskStatus.VALIDATING: "Running the tests",
}


def task_marker(task_id: object) -> str:
    """The hidden marker that identifies a task's one status comment (the adapter finds it by this)."""
    return f"<!-- codeloop:task:{task_id} -->"


# -- the view the syncer fills ---------------------------------------------------------------------


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)


class TaskFacts(_View):
    """The task's own fields that the renderers show (``TaskFacts.model_validate(task)`` takes a Task)."""

    id: UUID
    title: str
    type: str
    status: TaskStatus
    attempt: int = 0
    requested_by: str | None = None
    source: str = "api"
    issue_number: int | None = None
    pr_number: int | None = None
    pr_url: str | None = None
    head_sha: str | None = None
    agent_run_url: str | None = None
    error_log: list[dict[str, Any]] = Field(default_factory=list)
    created_at: datetime
    completed_at: datetime | None = None


class AgentRunView(_View):
    provider: str
    web_url: str | None = None
    status: str


class AttemptView(_View):
    """One attempt: its agent run, its validation (``validation_runs``) and its check run."""

    number: int = Field(ge=1)
    agent_run: AgentRunView | None = None
    validation_status: str | None = None  # validation_runs.status while there is no report yet
    validation: ValidationReport | None = None
    check_run_id: int | None = None
    check_run_url: str | None = None  # GitHub's html_url; derived from the id when absent
    pr_number: int | None = None
    head_sha: str | None = None


class FailureInfo(_View):
    """Why the workflow failed: the Step Functions ``{Error, Cause}`` and the step it came from."""

    error: str | None = None  # BudgetExhausted, RepeatedFailure, States.Timeout, a worker's class…
    cause: str | None = None
    step: str | None = None


class TaskView(_View):
    task: TaskFacts
    repository: str  # owner/name
    repository_url: str  # the repository's web address, e.g. https://github.com/owner/name
    steps: list[WorkflowStep] = Field(default_factory=list)
    attempts: list[AttemptView] = Field(default_factory=list)
    max_attempts: int | None = None  # the workflow's budget, when known
    failure: FailureInfo | None = None  # else read from the last entry of the task's error log
    cancelled_by: str | None = None  # the actor of the change to 'cancelled' (audit log)
    auto_merge: AutoMergeOutcome | None = None  # what codeloop did about merging (task metadata)
    cost: TaskCost | None = None  # the usage ledger's totals so far

    def attempt_view(self, number: int) -> AttemptView | None:
        return next((a for a in reversed(self.attempts) if a.number == number), None)


# -- outcome ---------------------------------------------------------------------------------------

OutcomeKind = Literal[
    "queued",
    "running",
    "waiting",
    "passed",
    "budget_exhausted",
    "repeated_failure",
    "not_run",
    "review_missing",
    "timed_out",
    "step_failed",
    "cancelled",
]


class Outcome(BaseModel):
    """Where a task stands, in words: ``headline`` and ``detail`` are Markdown, already safe."""

    model_config = ConfigDict(frozen=True)

    kind: OutcomeKind
    emoji: str
    headline: str
    detail: str = ""


_ERROR_PREFIX = re.compile(r"^([A-Z][\w.]*):\s*(.*)$", re.DOTALL)


def failure_of(view: TaskView) -> FailureInfo | None:
    """The view's failure, or the last error-log entry read as ``Error: cause``."""
    if view.failure is not None:
        return view.failure
    if not view.task.error_log:
        return None
    entry = view.task.error_log[-1]
    message = str(entry.get("error") or "")
    named = _ERROR_PREFIX.match(message)
    if named:
        return FailureInfo(error=named.group(1), cause=named.group(2), step=entry.get("step"))
    return FailureInfo(cause=message or None, step=entry.get("step"))


def _same_failure_again(view: TaskView) -> bool:
    reports = [a.validation for a in view.attempts if a.validation is not None]
    if len(reports) < 2:
        return False
    last, before = reports[-1], reports[-2]
    return (
        last.verdict == "failed"
        and last.failure_signature is not None
        and (last.failure_signature == before.failure_signature)
    )


def outcome_of(view: TaskView) -> Outcome:
    task = view.task
    current = view.attempt_view(task.attempt)
    report = current.validation if current else None
    if task.status == TaskStatus.CANCELLED:
        who = f" by {md.person(view.cancelled_by)}" if view.cancelled_by else ""
        return Outcome(kind="cancelled", emoji="⏹️", headline=f"Cancelled{who}")
    if task.status == TaskStatus.COMPLETED:
        pr_number = (current.pr_number if current else None) or task.pr_number
        where = f": the tests pass on #{pr_number}" if pr_number else ""
        return Outcome(kind="passed", emoji="✅", headline=f"Passed{where}")
    if task.status == TaskStatus.FAILED:
        return _failed_outcome(view, report)
    if task.status == TaskStatus.WAITING_PROVIDER:
        return Outcome(kind="waiting", emoji="💤", headline=DOING[task.status])
    if task.status in (TaskStatus.PENDING, TaskStatus.QUEUED):
        return Outcome(kind="queued", emoji="💤", headline="Queued")
    return Outcome(kind="running", emoji="⏳", headline=DOING[task.status])


_FAILURE_KINDS: dict[str, OutcomeKind] = {
    "BudgetExhausted": "budget_exhausted",
    "RepeatedFailure": "repeated_failure",
    "ReviewUnavailable": "review_missing",
} | dict.fromkeys(TIMEOUT_ERRORS, "timed_out")


def _failed_outcome(view: TaskView, report: ValidationReport | None) -> Outcome:
    failure = failure_of(view)
    error = failure.error if failure else None
    if report is not None and report.verdict == "not_run":
        hint = md.fenced(report.hint, 2_000) if report.hint else ""
        return Outcome(
            kind="not_run",
            emoji="❌",
            headline=f"Not validated: {md.inline(report.summary.removeprefix('Not run: '))}",
            detail=f"To fix it:\n\n{hint}" if hint else "",
        )
    if error is None and _same_failure_again(view):
        error = "RepeatedFailure"
    step = _step_name(failure.step) if failure and failure.step else "a step"
    explanation = explain_failure(error)
    headline = _failure_headline(error, step, view.task.attempt)
    if explanation is UNKNOWN_FAILURE and error:
        headline += f" ({md.code_span(error, 80)})"
    quoted = failure.cause if failure and failure.cause and explanation.quote_cause else ""
    return Outcome(
        kind=_FAILURE_KINDS.get(error or "", "step_failed"),
        emoji="❌",
        headline=headline,
        detail="\n\n".join(
            part for part in (explanation.next_step, _error_block(quoted) if quoted else "") if part
        ),
    )


def _failure_headline(error: str | None, step: str, attempt: int) -> str:
    """The failure table's headline for ``error``, with the step and the attempts filled in."""
    return explain_failure(error).headline.format(
        step=step,
        attempt=attempt,
        previous=attempt - 1,
        attempts=f"{attempt} attempt{'s' if attempt != 1 else ''}",
    )


# -- the check run ---------------------------------------------------------------------------------


class CheckRunRender(BaseModel):
    """What the syncer sends for one attempt's check run (``conclusion`` only when completed)."""

    model_config = ConfigDict(frozen=True)

    name: str = CHECK_RUN_NAME
    status: CheckRunStatus
    conclusion: Conclusion | None = None
    title: str
    summary: str
    text: str | None = None
    annotations: list[dict[str, Any]] = Field(default_factory=list)
    actions: list[dict[str, str]] = Field(default_factory=list)
    details_url: str | None = None  # None: GitHub links the App's homepage


ACTIONS = {
    "retry": {
        "label": "Retry",
        "description": "Start the task over from the beginning",
        "identifier": "retry",
    },
    "fix": {
        "label": "Fix again",
        "description": "Ask the agent to fix the failing tests",
        "identifier": "fix",
    },
    "cancel": {"label": "Cancel", "description": "Stop this task", "identifier": "cancel"},
    "validate": {
        "label": "Re-run",
        "description": "Validate and review the PR again",
        "identifier": "validate",
    },
}

_VERDICT_CONCLUSIONS: dict[str, Conclusion] = {
    "passed": "success",
    "failed": "failure",
    "error": "failure",
}

# Nothing ran because of the repository's own configuration (read from its default branch): the
# same for every pull request and no pull request's doing, so neutral rather than blocking them all.
REPOSITORY_NOT_RUN_REASONS: frozenset[NotRunReason] = frozenset({"not_configured", "config_invalid"})


def not_run_conclusion(reason: NotRunReason | None) -> Conclusion:
    """The conclusion of a validation that ran nothing, by why.

    GitHub counts ``neutral`` as passing a required check, so a pull request codeloop refused to
    run concludes ``action_required``, which blocks it until a person reviews it: one that
    changes protected paths (or may: its file list is incomplete), and one from a fork not opted
    in (its author, not the repository, chose its code, and none of it was validated). Only the
    repository's own configuration stays ``neutral``; an unknown reason counts as a refusal.
    """
    return "neutral" if reason in REPOSITORY_NOT_RUN_REASONS else "action_required"


def validation_conclusion(report: ValidationReport) -> Conclusion:
    """The check run conclusion a validation report stands for."""
    if report.verdict == "not_run":
        return not_run_conclusion(report.not_run_reason)
    return _VERDICT_CONCLUSIONS[report.verdict]


def _attempt_state(view: TaskView, attempt: int) -> tuple[CheckRunStatus, Conclusion | None]:
    task = view.task
    record = view.attempt_view(attempt)
    report = record.validation if record else None
    if attempt > task.attempt:
        return "queued", None
    if attempt < task.attempt:  # an earlier attempt: what its validation said
        return "completed", validation_conclusion(report) if report else "neutral"
    if task.status not in TERMINAL:
        return ("queued" if task.status in (TaskStatus.PENDING, TaskStatus.QUEUED) else "in_progress"), None
    kind = outcome_of(view).kind
    if kind == "not_run" and report is not None:
        return "completed", validation_conclusion(report)
    conclusions: dict[str, Conclusion] = {
        "passed": "success",
        "cancelled": "cancelled",
        "review_missing": "action_required",
        "timed_out": "timed_out",
    }
    return "completed", conclusions.get(kind, "failure")


def _actions(view: TaskView, attempt: int) -> list[dict[str, str]]:
    """Buttons only on the current attempt: Cancel while it runs, Retry/Fix again when it did not
    pass, Re-run when only its blocking AI review is missing (the code needs no new agent run)."""
    task = view.task
    if attempt != task.attempt:
        return []
    if task.status not in TERMINAL:
        return [ACTIONS["cancel"]]
    if task.status == TaskStatus.COMPLETED:
        return []
    if outcome_of(view).kind == "review_missing":
        return [ACTIONS["validate"]]
    record = view.attempt_view(attempt)
    failed_tests = (
        record is not None and record.validation is not None and record.validation.verdict == "failed"
    )
    return [ACTIONS["retry"], ACTIONS["fix"]] if failed_tests else [ACTIONS["retry"]]


def render_check_run(view: TaskView, attempt: int) -> CheckRunRender:
    """The ``codeloop`` check run of one attempt, on that attempt's head commit."""
    status, conclusion = _attempt_state(view, attempt)
    record = view.attempt_view(attempt)
    report = record.validation if record else None
    title = _check_run_title(view, attempt, status, conclusion, report)

    blocks = [f"**{md.inline(view.task.title, 256)}**\n{_attempt_line(view, attempt, record)}"]
    steps = [_step_line(step) for step in view.steps if step.attempt == attempt]
    blocks.append("\n".join(md.fit_lines(steps, 20_000, "steps")))
    if report is not None:
        blocks.append(f"**Result:** {md.inline(report.summary, 500)}")
        blocks.append(md.fenced(report.hint, 4_000) if report.hint else "")
    if status == "completed" and attempt == view.task.attempt:
        outcome = outcome_of(view)
        if outcome.kind not in ("passed", "not_run"):  # those the result above says already
            blocks += [f"**Outcome:** {outcome.emoji} {outcome.headline}", outcome.detail]
        blocks.append(_merge_line(view))
    blocks.append(_cost_line(view))
    blocks.append(_links(view, record, with_check_run=False))
    return CheckRunRender(
        status=status,
        conclusion=conclusion,
        title=title,
        summary="\n\n".join(block for block in blocks if block),
        text=_validation_text(report) if report is not None and report.verdict != "not_run" else None,
        annotations=[
            _annotation(a.model_dump(exclude_none=True))
            for a in [*report.annotations, *review_annotations(report.review)]
        ]
        if report
        else [],
        actions=_actions(view, attempt),
        details_url=_changes_url(view, record) if conclusion == "action_required" else None,
    )


def _changes_url(view: TaskView, record: AttemptView | None) -> str | None:
    """Where the person an ``action_required`` check run asks for acts: the pull request's changes
    (GitHub documents that such a check run explains itself at its ``details_url``)."""
    pr_number = _pr_number(view, record)
    return f"{_pull_request_url(view, pr_number)}/files" if pr_number else None


def _pr_number(view: TaskView, record: AttemptView | None) -> int | None:
    """The pull request an attempt worked on, else the task's."""
    return (record.pr_number if record else None) or view.task.pr_number


def _pull_request_url(view: TaskView, number: int) -> str:
    return f"{view.repository_url.rstrip('/')}/pull/{number}"


def render_superseded_check_run(view: TaskView, attempt: int) -> CheckRunRender:
    """A check run left on a commit the task no longer works on (its work moved to a newer head)."""
    where = (
        md.link(f"PR #{view.task.pr_number}", _pull_request_url(view, view.task.pr_number))
        if view.task.pr_number
        else "a newer commit"
    )
    return CheckRunRender(
        status="completed",
        conclusion="neutral",
        title="Continued on a newer commit",
        summary=f"**{md.inline(view.task.title, 256)}**\nAttempt {attempt} of this task continues on {where}.",
    )


def render_merge_group_check_run(green_on_same_tree: bool) -> CheckRunRender:
    """codeloop's check run on a merge queue's merge group, concluded at once so a queue that
    requires it never waits: ``success`` when codeloop validated the same git tree green (the
    merge changed nothing), else ``neutral`` (codeloop validates pull requests, not merge groups)."""
    if green_on_same_tree:
        return CheckRunRender(
            status="completed",
            conclusion="success",
            title="Validated: the same tree passed on its pull request",
            summary="codeloop validated a pull request whose files are exactly this merge group's "
            "(the same git tree) and it passed, so the merge queue need not wait.",
        )
    return CheckRunRender(
        status="completed",
        conclusion="neutral",
        title="Not validated in the merge queue",
        summary="codeloop validates pull requests, not merge groups: this merge group's files differ "
        "from every tree codeloop saw pass, so this check is neutral and the merge queue need not wait. "
        "The repository's own CI decides.",
    )


def _check_run_title(
    view: TaskView,
    attempt: int,
    status: CheckRunStatus,
    conclusion: Conclusion | None,
    report: ValidationReport | None,
) -> str:
    """Plain text: GitHub shows a check run's title as it is."""
    if status != "completed":
        doing = DOING.get(view.task.status, "Queued") if attempt == view.task.attempt else "Queued"
        return f"{doing} (attempt {attempt})"
    if conclusion == "cancelled":
        return "Cancelled"
    if report is not None:
        return md.plain(report.summary, CHECK_RUN_TITLE_CHARS)
    if attempt != view.task.attempt:
        return f"Attempt {attempt} ended before its tests ran"
    failure = failure_of(view)
    step = failure.step if failure and failure.step else None
    where = STEP_NAMES.get(step or "") or (md.plain(step, 60) if step else "a step")
    return md.plain(
        _failure_headline(failure.error if failure else None, where, attempt), CHECK_RUN_TITLE_CHARS
    )


def _attempt_line(view: TaskView, attempt: int, record: AttemptView | None) -> str:
    parts = [f"Attempt {attempt}" + (f" of {view.max_attempts}" if view.max_attempts else "")]
    pr_number = (record.pr_number if record else None) or view.task.pr_number
    if pr_number:
        parts.append(f"pull request #{pr_number}")
    head = record and (record.head_sha or (record.validation.head_sha if record.validation else None))
    if head:
        parts.append(md.code_span(head[:12], 12))
    return " · ".join(parts)


def _annotation(annotation: dict[str, Any]) -> dict[str, Any]:
    """A validation annotation with its outside text cleaned (GitHub shows it as plain text)."""
    for key in ("message", "title", "raw_details"):
        if key in annotation:
            annotation[key] = md.scrub(annotation[key])
    annotation["message"] = annotation["message"] or "failed"
    return annotation


def _validation_text(report: ValidationReport, limit: int = GITHUB_TEXT_LIMIT) -> str:
    """The check run's ``text``: failing tests first, then each command with its output's head and tail."""
    sections: list[str] = []
    budget = limit - 200  # room for the headings and the closing notes
    if report.failures:
        shown = len(report.failures)
        heading = f"### Failing tests ({report.failures_total})"
        failure_budget = budget // 2
        entries = [_failure_entry(f, min(6_000, max(failure_budget // shown, 600))) for f in report.failures]
        kept = md.fit_blocks(entries, failure_budget, "failing tests")
        sections.append("\n\n".join([heading, *kept]))
        budget -= sum(len(s) + 2 for s in sections)
    if report.flaky_tests:
        elsewhere = set(report.flaky_elsewhere)
        flaky = [
            f"- {md.code_span(test_id, 300)}"
            + (" (flaky in another validation of this repository too)" if test_id in elsewhere else "")
            for test_id in report.flaky_tests
        ]
        sections.append(
            md.fit_text("\n".join(["### Flaky tests (failed, then passed on a rerun)", *flaky]), budget // 4)
        )
        budget -= len(sections[-1]) + 2
    if report.deployment is not None:
        sections.append(_deployment_text(report))
        budget -= len(sections[-1]) + 2
    if report.review is not None:
        sections.append(_review_text(report.review, budget // 4))
        budget -= len(sections[-1]) + 2
    if report.commands:
        sections.append("\n".join(["### Commands", *(_command_line(c) for c in report.commands)]))
        budget -= len(sections[-1]) + 2
        outputs = [c for c in report.commands if c.output.strip()]
        # the failing commands' output matters most: it goes first and gets the room
        outputs.sort(key=lambda c: c.succeeded)
        for command in outputs:
            if budget < 400:
                break
            share = min(20_000, budget - 200)
            block = md.details(
                f"Output of {md.html_code(command.command)}",
                md.fenced(strip_ansi(command.output), share - 200),
            )
            if len(block) + 2 > budget:
                break
            sections.append(block)
            budget -= len(block) + 2
    if report.notes:
        notes = "\n".join(f"- {md.inline(note, 300)}" for note in report.notes)
        sections.append(md.fit_text(f"### Notes\n{notes}", max(budget, 0)))
    return "\n\n".join(s for s in sections if s)


def _deployment_text(report: ValidationReport, output_chars: int = 4_000) -> str:
    """The app ``validation.deploy`` started: where, whether it got ready, each HTTP check, and
    the deploy output's tail when the app never got ready."""
    deployment = report.deployment
    assert deployment is not None
    where = ", ".join(md.code_span(url, 200) for url in deployment.urls) or "no URL configured"
    if deployment.ready:
        after = (
            f" after {md.duration(deployment.ready_seconds)}" if deployment.ready_seconds is not None else ""
        )
        lines = ["### Deployment", f"- ✅ ready at {where}{after}"]
    else:
        lines = ["### Deployment", f"- ❌ never ready at {where}: {md.inline(deployment.problem or '', 300)}"]
    lines += [f"- deploy: {md.code_span(p.command, 300)} {p.ended}" for p in deployment.processes]
    for check in report.checks:
        emoji, what = ("✅", "") if check.passed else ("❌", f": {md.inline(check.problem or '', 300)}")
        answer = f"status {check.status}" if check.status is not None else "no answer"
        request = md.code_span(f"{check.method} {check.url}", 300)
        lines.append(
            f"- {emoji} check {md.code_span(check.name, 100)}: {request} → {answer}{what} · {md.duration(check.duration_seconds)}"
        )
    text = "\n".join(lines)
    if not deployment.ready and deployment.output.strip():
        tail = strip_ansi(deployment.output)[-output_chars:]
        text += "\n\n" + md.details("Output of the deploy commands", md.fenced(tail, output_chars + 200))
    return text


def _review_text(review: AIReview, limit: int) -> str:
    """The AI review's section: codeloop's one line, then the reviewer's (untrusted) words fenced
    and each finding with its place; the findings on the diff's files are also annotations."""
    head = ["### AI review", f"{'❌' if review.blocks else 'ℹ️'} {md.inline(review.describe(), 400)}"]
    if review.status != "reviewed":
        return "\n".join(head)
    if review.summary.strip():
        head.append(md.fenced(review.summary, 2_000))
    changed = set(review.changed_files)
    findings = [
        f"- {md.code_span(f'{f.file}:{f.line}', 300)} {f.severity}"
        + ("" if f.file in changed else " (not a file of the diff: not annotated)")
        + f": {md.inline(f.message, 500)}"
        for f in review.findings
    ]
    note = "_The review is a model's opinion; it blocks only with `validation.review.blocking`._"
    room = max(limit - sum(len(line) + 1 for line in [*head, note]), 400)
    return "\n".join([*head, *md.fit_lines(findings, room, "findings"), note])


def _command_line(command: CommandResult) -> str:
    if command.succeeded:
        emoji, what = "✅", ""
    elif command.timed_out:
        emoji, what = "❌", " hit its time limit"
    elif command.signal is not None:
        emoji, what = "❌", f" was killed by signal {command.signal}"
    else:
        emoji, what = "❌", f" exited with {command.exit_code}"
    return f"- {emoji} {command.phase}: {md.code_span(command.command, 300)}{what} · {md.duration(command.duration_seconds)}"


def _failure_entry(failure: TestFailure, limit: int) -> str:
    verb = "errored" if failure.kind == "error" else "failed"
    entry = f"**{md.code_span(failure.test_id, 300)}** {verb}\n\n{md.fenced(failure.message or verb, min(limit, 2_000))}"
    if failure.details.strip():
        entry += "\n\n" + md.details("Details", md.fenced(strip_ansi(failure.details), limit))
    return entry


# -- the comment -----------------------------------------------------------------------------------

FOLD_STEPS_OVER = 8  # more steps than this fold into <details>, with the latest shown


def render_comment(view: TaskView) -> str:
    """The task's one status comment: the request, its steps, its attempts, and the outcome."""
    task = view.task
    outcome = outcome_of(view)
    headline = outcome.headline
    if outcome.kind in ("running", "waiting") and task.attempt:
        headline += f" (attempt {task.attempt}" + (f" of {view.max_attempts})" if view.max_attempts else ")")
    head = [
        task_marker(task.id),
        f"### {outcome.emoji} codeloop: {headline}",
        "",
        f"**{md.inline(task.title, 256)}**",
        request_line(view),
    ]
    label = "Outcome" if task.status in TERMINAL else "Now"
    tail = [f"**{label}:** {outcome.emoji} {outcome.headline}"]
    if outcome.detail:
        tail += ["", outcome.detail]
    if view.auto_merge is not None:
        tail += ["", _merge_line(view)]
    if view.cost is not None:
        tail += ["", _cost_line(view)]
    fixed = "\n".join(head) + "\n\n" + "\n".join(tail)

    room = GITHUB_TEXT_LIMIT - len(fixed) - 100  # separators and headings
    attempts = _attempts_section(view, room // 2)
    room -= len(attempts)
    steps = _steps_section(view, room)
    body = "\n".join(head)
    for section in (steps, attempts):
        if section:
            body += "\n\n" + section
    return body + "\n\n" + "\n".join(tail) + "\n"


def _merge_line(view: TaskView) -> str:
    """What codeloop did about merging (``auto_merge``), or nothing when it was not asked to."""
    if view.auto_merge is None:
        return ""
    return f"**Merge:** {md.inline(outcome_text(view.auto_merge), 1_000)}"


def _cost_line(view: TaskView) -> str:
    """What the task's model and agent calls cost so far, or nothing when the ledger was not read."""
    if view.cost is None:
        return ""
    return f"**Cost so far:** {md.inline(cost_line(view.cost.total), 300)}"


def request_line(view: TaskView) -> str:
    task = view.task
    parts = [task.type.replace("_", " ")]
    if task.requested_by:
        where = {
            "slack": "in Slack",
            "comment": "in a comment",
            "label": "with a label",
            "api": "through the API",
            "batch": "in a batch",
        }
        parts.append(
            f"asked by {md.person(task.requested_by, mention=True)} {where.get(task.source, '')}".rstrip()
        )
    if task.issue_number:
        parts.append(f"on #{task.issue_number}")
    parts.append(f"task {md.code_span(str(task.id)[:8], 8)}")
    return " · ".join(parts)


def _steps_section(view: TaskView, budget: int) -> str:
    several_attempts = len({step.attempt for step in view.steps}) > 1
    lines = [_step_line(step, with_attempt=several_attempts) for step in view.steps]
    if not lines:
        return ""
    if len(lines) <= FOLD_STEPS_OVER:
        return md.fit_text("**Steps**\n" + "\n".join(lines), budget)
    latest = f"**Latest step:** {lines[-1].removeprefix('- ')}"
    wrapper = len(latest) + 200
    folded = md.fit_lines(lines, budget - wrapper, "steps")
    return latest + "\n\n" + md.details(f"All {len(lines)} steps", "\n".join(folded))


def attempt_lines(view: TaskView) -> list[str]:
    """One Markdown list item per attempt: its result and its links (the comment, Linear's too)."""
    return [_attempt_summary(view, record) for record in view.attempts]


def _attempts_section(view: TaskView, budget: int) -> str:
    lines = attempt_lines(view)
    if not lines:
        return ""
    return "**Attempts**\n" + "\n".join(md.fit_lines(lines, budget - 20, "attempts"))


def _attempt_summary(view: TaskView, record: AttemptView) -> str:
    report = record.validation
    if report is not None:
        emoji = {"passed": "✅", "failed": "❌", "error": "❌", "not_run": "⚠️"}[report.verdict]
        result = f"{emoji} {md.inline(report.summary, 200)}"
    elif record.number != view.task.attempt:
        result = "⏹️ ended before the tests ran"
    elif record.validation_status == "waiting_checks" and view.task.status not in TERMINAL:
        result = "⏳ waiting for the repository's own checks"
    elif view.task.status not in TERMINAL:
        result = f"⏳ {DOING[view.task.status].lower()}"
    elif view.task.status == TaskStatus.CANCELLED:
        result = "⏹️ cancelled"
    else:
        result = "❌ stopped before the tests ran"
    return f"- **{record.number}** {result}" + ("" if not (links := _links(view, record)) else f" · {links}")


def _links(view: TaskView, record: AttemptView | None, *, with_check_run: bool = True) -> str:
    links = []
    pr_number = _pr_number(view, record)
    if pr_number:
        links.append(md.link(f"PR #{pr_number}", _pull_request_url(view, pr_number)))
    agent_url = (record.agent_run.web_url if record and record.agent_run else None) or (
        view.task.agent_run_url if record is None or record.number == view.task.attempt else None
    )
    if agent_url:
        links.append(md.link("agent run", agent_url))
    if with_check_run and record is not None and (record.check_run_url or record.check_run_id):
        url = record.check_run_url or f"{view.repository_url.rstrip('/')}/runs/{record.check_run_id}"
        links.append(md.link("check run", url))
    return " · ".join(link for link in links if link)


def _step_line(step: WorkflowStep, *, with_attempt: bool = False) -> str:
    emoji = STEP_EMOJI.get(step.status, "⏳")
    when = (
        md.duration(step.duration_ms / 1000)
        if step.duration_ms is not None
        else f"started {step.started_at.astimezone(UTC):%H:%M} UTC"
    )
    attempt = f" (attempt {step.attempt})" if with_attempt else ""
    line = f"- {emoji} {_step_name(step.step)}{attempt} · {when}"
    if step.error:
        line += f": {md.inline(step.error, 160)}"
    return line


def _step_name(step: str) -> str:
    return STEP_NAMES.get(step) or md.code_span(step, 60)


def _error_block(cause: str) -> str:
    if len(cause) <= 300 and "\n" not in cause:
        return md.fenced(cause, 300)
    return md.details("Error", md.fenced(cause, 4_000))
