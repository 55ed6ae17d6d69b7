"""Validating a pull request's head: the report, its verdict, forks, annotations, the signature.

Pure logic. The service (``codeloop.services.validation.run``) runs the commands and hands their
results here; the workflow compares ``failure_signature`` between attempts to tell "the same
failure again" from progress.

Verdicts:
- ``passed``: every setup and test command exited 0 within its time limit, the deployment (if
  any) became ready and every HTTP check passed.
- ``failed``: the code's fault: a setup or test command exited non-zero, or hit a time limit; the
  app never became ready; an HTTP check failed. (Exit codes and checks decide; failures parsed
  from results only explain.)
- ``error``: ours, not the code's: the checkout or the sandbox could not be set up, or a
  blocking AI review could not be obtained for code that passed (:func:`with_review`).
- ``not_run``: nothing was run, on purpose: a PR that changes protected paths (workflows,
  ``.github/codeloop.yml``, the repository's ``protected_paths``), a fork PR without
  ``validation.forks: true``, no test commands configured, or an invalid ``.github/codeloop.yml``.

With ``validation.include_repo_checks``, a passing report is then folded with the repository's
own CI (:func:`with_repo_checks`): a check failing on the head but not on the base fails it.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import Field

from codeloop.domain.frozen import Frozen
from codeloop.domain.protected_paths import protected_changes
from codeloop.domain.repo_checks import RepoChecks
from codeloop.domain.repo_config import CONFIG_PATH, ConfigProblem, RepoConfig
from codeloop.domain.review import AIReview
from codeloop.domain.test_results import SourceLocation, TestFailure, running_test_when_cut, strip_ansi

Verdict = Literal["passed", "failed", "error", "not_run"]
NotRunReason = Literal["protected_paths", "fork", "not_configured", "config_invalid"]
ResultsSource = Literal["junit", "output", "none"]
Phase = Literal["setup", "test", "rerun"]  # rerun: the failing tests again, once

MAX_FAILURES = 500  # kept in a report; ``failures_total`` counts them all
MAX_CHANGED_PATHS = 100  # kept in a report (failure memory names the files of a fix)
MAX_ANNOTATIONS = 200  # GitHub takes 50 per request: the reporter sends them in batches
ANNOTATION_MESSAGE_CHARS = 4_000
ANNOTATION_TITLE_CHARS = 255
SIGNATURE_MESSAGE_CHARS = 300
SIGNATURE_SCANNED_LINES = 200  # of a failing command's output, when no test failure was parsed
SIGNATURE_ERROR_LINES = 5
LINE_NOT_KNOWN = "The runner named no line for this failure: this annotation is on the file, not on a line."

NOT_CONFIGURED_HINT = (
    f"Add test commands to {CONFIG_PATH} on the default branch, for example:\n"
    "validation:\n"
    '  setup: ["python -m pip install -r requirements.txt"]\n'
    '  test: ["python -m pytest -q --junitxml=report.xml"]\n'
    '  junit: ["report.xml"]'
)
FORK_HINT = (
    f"Pull requests from forks are not validated unless `validation.forks: true` is set in "
    f"{CONFIG_PATH}; the repository's own CI still applies."
)


class CommandResult(Frozen):
    phase: Phase
    command: str
    exit_code: int | None  # None: it did not exit by itself (killed at a limit, or never started)
    signal: int | None = None  # the signal that ended it, if one did
    timed_out: bool = False
    duration_seconds: float
    output: str  # stdout and stderr interleaved: head and tail, with a line saying what was cut
    output_bytes: int  # everything the command printed
    output_cut_bytes: int = 0
    junit_open_test: str | None = None  # the test case a JUnit file it wrote ends inside (cut short)
    rerun_of: int | None = None  # a rerun: the index in the report's commands of the test command it narrows

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def test_running_when_cut(self) -> str | None:
        """The test this run was in when it was stopped: the test case its JUnit file was cut
        inside, else the one its runner's progress lines leave open."""
        return self.junit_open_test or running_test_when_cut(self.output)

    def describe(self) -> str:
        if self.timed_out:
            running = self.test_running_when_cut()
            during = f", while running {running}" if running else ""
            return f"`{self.command}` hit its time limit after {self.duration_seconds:.0f} s{during}"
        if self.signal is not None:
            return f"`{self.command}` was killed by signal {self.signal}"
        return f"`{self.command}` exited with {self.exit_code}"


class DeployedCommand(Frozen):
    """A ``validation.deploy`` command, run in the background until the validation's end."""

    command: str
    ended: str  # how it ended: stopped at the end, or by itself before
    output: str  # head and tail, with a line saying what was cut
    output_bytes: int


class Deployment(Frozen):
    """The app started by ``validation.deploy``: where it was reached and whether it got ready."""

    urls: list[str] = Field(default_factory=list)  # scheme://host:port of the ready URL and checks
    ready: bool
    ready_seconds: float | None = None  # from the first deploy command's start to ready
    problem: str | None = None  # why it never became ready
    processes: list[DeployedCommand] = Field(default_factory=list)

    @property
    def output(self) -> str:
        return "\n".join(p.output for p in self.processes if p.output)


class CheckResult(Frozen):
    """One ``validation.checks`` HTTP check against the running app."""

    name: str
    method: str
    url: str
    status: int | None  # what the app answered with; None when it did not answer
    passed: bool
    problem: str | None = None  # why it failed: the wrong status, the missing text, no answer
    body: str = ""  # the head of the answer's body
    duration_seconds: float

    def describe(self) -> str:
        outcome = "passed" if self.passed else f"failed: {self.problem}"
        return f"check `{self.name}` ({self.method} {self.url}) {outcome}"


class Annotation(Frozen):
    """A check-run annotation, in GitHub's shape."""

    path: str
    start_line: int = Field(ge=1)
    end_line: int = Field(ge=1)
    annotation_level: Literal["notice", "warning", "failure"]
    message: str
    title: str | None = None
    raw_details: str | None = None


class ValidationReport(Frozen):
    verdict: Verdict
    summary: str  # one line for people: the check run's title material
    head_sha: str | None = None
    not_run_reason: NotRunReason | None = None
    hint: str | None = None  # what a maintainer can do about it
    commands: list[CommandResult] = Field(default_factory=list)
    results_source: ResultsSource = "none"
    failures: list[TestFailure] = Field(default_factory=list)
    failures_total: int = 0
    annotations: list[Annotation] = Field(default_factory=list)
    failure_signature: str | None = None  # equal between attempts = the same failure again
    flaky_tests: list[str] = Field(default_factory=list)  # failed, then passed on the rerun
    notes: list[str] = Field(default_factory=list)  # result files that could not be used, and why
    duration_seconds: float = 0.0
    repo_checks: RepoChecks | None = None  # the repository's own CI, when it was included
    deployment: Deployment | None = None  # when validation.deploy started an app
    checks: list[CheckResult] = Field(default_factory=list)  # in order, each a step of the report
    changed_paths: list[str] = Field(default_factory=list)  # the PR's files (the first MAX_CHANGED_PATHS)
    flaky_elsewhere: list[str] = Field(default_factory=list)  # of flaky_tests: flaky in other validations too
    review: AIReview | None = None  # validation.review, when enabled


# -- forks and the cases where nothing runs -------------------------------------------------


def is_fork_pull_request(pull_request: Mapping[str, Any]) -> bool:
    """Whether a ``pull_request`` object (webhook or REST) comes from another repository.

    A head repository that is gone (``null``: the fork was deleted) counts as a fork.
    """
    head_repo = (pull_request.get("head") or {}).get("repo")
    base_repo = (pull_request.get("base") or {}).get("repo") or {}
    if not head_repo:
        return True
    return head_repo.get("full_name") != base_repo.get("full_name")


def may_run_code(config: RepoConfig, *, is_fork: bool) -> bool:
    return not is_fork or config.validation.forks


def reason_not_to_run(
    config: RepoConfig,
    *,
    is_fork: bool,
    changed_paths: Collection[str] = (),
    incomplete_file_list: str | None = None,
) -> NotRunReason | None:
    """Why nothing may run for this pull request (protected paths changed, or maybe changed when
    ``changed_paths`` is not all of them; a fork not opted in; no test commands), or None."""
    if incomplete_file_list or protected_changes(changed_paths, config.protected_paths):
        return "protected_paths"
    if not may_run_code(config, is_fork=is_fork):
        return "fork"
    if not config.is_validation_configured:
        return "not_configured"
    return None


def protected_paths_hint(
    changed_paths: Collection[str], config: RepoConfig, incomplete_file_list: str | None = None
) -> str:
    """Which protected files a pull request changes, by which rule (and that others may be
    unlisted), and why that stops codeloop."""
    lines = [
        f"- `{path}` (protected by `{pattern}`)"
        for path, pattern in protected_changes(changed_paths, config.protected_paths).items()
    ]
    if incomplete_file_list:
        lines.append(f"- perhaps more: {incomplete_file_list}")
    return "\n".join(
        [
            "This pull request changes protected paths:",
            *lines,
            "Workflows run with the repository's secrets and "
            f"{CONFIG_PATH} decides what validates a pull request, so codeloop neither runs this "
            f"pull request's code nor acts on it automatically. Review it by hand; `protected_paths` "
            f"in {CONFIG_PATH} lists the repository's own additions.",
        ]
    )


def not_run_report(reason: NotRunReason, head_sha: str | None, hint: str | None = None) -> ValidationReport:
    summaries = {
        "protected_paths": "Not run: the pull request changes protected paths",
        "fork": "Not run: the pull request comes from a fork",
        "not_configured": f"Not run: no test commands are configured in {CONFIG_PATH}",
        "config_invalid": f"Not run: {CONFIG_PATH} is invalid",
    }
    default_hints = {"fork": FORK_HINT, "not_configured": NOT_CONFIGURED_HINT}
    return ValidationReport(
        verdict="not_run",
        summary=summaries[reason],
        head_sha=head_sha,
        not_run_reason=reason,
        hint=hint or default_hints.get(reason),
    )


def config_problem_report(problem: ConfigProblem, head_sha: str | None) -> ValidationReport:
    return not_run_report("config_invalid", head_sha, hint="\n".join(problem.problems))


def error_report(summary: str, head_sha: str | None, duration_seconds: float = 0.0) -> ValidationReport:
    return ValidationReport(
        verdict="error", summary=summary, head_sha=head_sha, duration_seconds=duration_seconds
    )


# -- verdict ---------------------------------------------------------------------------------


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' if count != 1 else ''}"


def verdict_for(
    commands: Sequence[CommandResult],
    failure_count: int,
    deployment: Deployment | None = None,
    checks: Sequence[CheckResult] = (),
    flaky_count: int = 0,
) -> tuple[Verdict, str]:
    """The verdict and its one-line summary, from what the commands and the checks did. A failing
    test command whose failing tests all passed on its rerun counts as passed (they were flaky)."""
    setup_failure = next((c for c in commands if c.phase == "setup" and not c.succeeded), None)
    if setup_failure is not None:
        return "failed", f"Setup failed: {setup_failure.describe()}"
    if deployment is not None and not deployment.ready:
        return "failed", f"Deploy failed: {deployment.problem}"
    failed_checks = [c.name for c in checks if not c.passed]
    cleared = {c.rerun_of for c in commands if c.phase == "rerun" and c.succeeded}
    test_failures = [
        c for i, c in enumerate(commands) if c.phase == "test" and not c.succeeded and i not in cleared
    ]
    flaky = f"; {_plural(flaky_count, 'flaky test')} passed on a rerun" if flaky_count else ""
    parts = [f"Checks failed: {', '.join(failed_checks)}"] if failed_checks else []
    if test_failures and failure_count:
        parts.append(f"Tests failed: {_plural(failure_count, 'failing test')}{flaky}")
    elif test_failures:
        parts.append(f"Tests failed: {test_failures[0].describe()}")
    if parts:
        return "failed", _clip("; ".join(parts), ANNOTATION_TITLE_CHARS)
    ran = sum(1 for c in commands if c.phase == "test")
    passed = f"Passed: {_plural(ran, 'test command')} succeeded"
    return "passed", (f"{passed}, {_plural(len(checks), 'check')} passed" if checks else passed) + flaky


def build_report(
    *,
    head_sha: str,
    commands: Sequence[CommandResult],
    failures: Sequence[TestFailure],
    results_source: ResultsSource,
    changed_paths: Collection[str],
    repo_files: Collection[str],
    checkout_root: str | None = None,
    duration_seconds: float = 0.0,
    notes: Sequence[str] = (),
    flaky: Sequence[TestFailure] = (),
    deployment: Deployment | None = None,
    checks: Sequence[CheckResult] = (),
) -> ValidationReport:
    verdict, summary = verdict_for(commands, len(failures), deployment, checks, len(flaky))
    paths = RepoPaths(repo_files, checkout_root)
    failures = [relative_to_checkout(failure, checkout_root) for failure in failures]
    commands = [
        command.model_copy(update={"output": without_checkout(command.output, checkout_root)}) for command in commands
    ]
    if deployment is not None:
        processes = [
            process.model_copy(update={"output": without_checkout(process.output, checkout_root)})
            for process in deployment.processes
        ]
        deployment = deployment.model_copy(update={"processes": processes})
    return ValidationReport(
        verdict=verdict,
        summary=summary,
        head_sha=head_sha,
        commands=list(commands),
        results_source=results_source,
        failures=list(failures[:MAX_FAILURES]),
        failures_total=len(failures),
        annotations=annotations_for(failures, paths, changed_paths),
        failure_signature=failure_signature(failures, commands, checkout_root, deployment, checks)
        if verdict == "failed"
        else None,
        flaky_tests=[failure.test_id for failure in flaky],
        notes=list(notes),
        duration_seconds=duration_seconds,
        deployment=deployment,
        checks=list(checks),
        changed_paths=sorted(changed_paths)[:MAX_CHANGED_PATHS],
    )


# -- paths and annotations -------------------------------------------------------------------

_CLASS_FILE_EXTENSIONS = (".py", ".java", ".kt", ".scala", ".groovy", ".cs", ".rb", ".php")


def _shared_tail(left: Sequence[str], right: Sequence[str]) -> int:
    count = 0
    for a, b in zip(reversed(left), reversed(right), strict=False):
        if a != b:
            break
        count += 1
    return count


def _closest_to_hint(candidates: Sequence[str], hint: str) -> list[str]:
    """The candidates whose folders end like the hint's package (with or without its last part,
    which may be a class name); several when they tie."""
    parts = hint.split("/") if "/" in hint else hint.split(".")
    scores = {
        c: max(
            _shared_tail(posixpath.dirname(c).split("/"), parts),
            _shared_tail(posixpath.dirname(c).split("/"), parts[:-1]),
        )
        for c in candidates
    }
    best = max(scores.values())
    return [c for c, score in scores.items() if score == best] if best else list(candidates)


class RepoPaths:
    """Turns the paths test runners print (absolute, relative, bare names) into repository paths."""

    def __init__(self, files: Collection[str], checkout_root: str | None = None):
        self.files = frozenset(files)
        self._root = checkout_root.rstrip("/") + "/" if checkout_root else None
        self._by_name: dict[str, list[str]] = defaultdict(list)
        self._by_class: dict[str, str | None] = {}  # failures of one class share its lookup
        for path in self.files:
            self._by_name[posixpath.basename(path)].append(path)

    def resolve(self, raw: str | None, hint: str | None = None) -> str | None:
        """The repository path ``raw`` names, or None when it is outside the repository or ambiguous.

        ``hint`` (a package or class name such as ``example.com/mod/calc`` or ``com.acme.FooTest``)
        picks between several files of the same name.
        """
        if not raw:
            return None
        path = raw.strip().replace("\\", "/")
        if self._root and path.startswith(self._root):
            path = path[len(self._root) :]
        elif path.startswith("/"):
            return None  # an absolute path outside the checkout: a library, the runtime
        path = posixpath.normpath(path).removeprefix("./")
        if path in self.files:
            return path
        if path.startswith("../"):
            return None
        candidates = [f for f in self._by_name.get(posixpath.basename(path), []) if f.endswith("/" + path)]
        if len(candidates) > 1 and hint:
            candidates = _closest_to_hint(candidates, hint)
        return candidates[0] if len(candidates) == 1 else None

    def resolve_class(self, dotted: str | None) -> str | None:
        """The file defining a dotted module or class name (``tests.test_calc.TestCalc``)."""
        if not dotted:
            return None
        if dotted not in self._by_class:
            self._by_class[dotted] = self._find_class(dotted)
        return self._by_class[dotted]

    def _find_class(self, dotted: str) -> str | None:
        parts = dotted.split(".")
        for length in range(len(parts), 0, -1):
            stem = "/".join(parts[:length])
            for extension in _CLASS_FILE_EXTENSIONS:
                if found := self.resolve(stem + extension, hint=".".join(parts[: length - 1])):
                    return found
        return None


def without_checkout(text: str, checkout_root: str | None) -> str:
    """``text`` with the checkout's absolute path taken out, so that reports, prompts and
    signatures name repository paths, whatever folder the run used."""
    if not checkout_root:
        return text
    prefix = checkout_root.rstrip("/") + "/"
    return text.replace("file://" + prefix, "").replace(prefix, "")


def relative_to_checkout(failure: TestFailure, checkout_root: str | None) -> TestFailure:
    """The failure with the checkout's absolute path taken out of its paths and texts."""
    if not checkout_root:
        return failure

    def relative(text: str) -> str:
        return without_checkout(text, checkout_root)

    return failure.model_copy(
        update={
            "file": relative(failure.file) if failure.file else None,
            "suite": relative(failure.suite) if failure.suite else None,
            "message": relative(failure.message),
            "details": relative(failure.details),
            "stack": [SourceLocation(path=relative(loc.path), line=loc.line) for loc in failure.stack],
        }
    )


Place = tuple[str, int | None]  # a repository path, and a line when one is known


def failure_places(
    failure: TestFailure, paths: RepoPaths, changed_paths: Collection[str]
) -> tuple[Place | None, Place | None]:
    """Where a failure shows: the test itself, and the deepest frame of its trace inside the
    repository (preferring files the pull request changed), which is where it broke when the
    error came from code the test called. Either is None when no repository file can be named."""
    hint = failure.suite
    in_repo = [(path, loc.line) for loc in failure.stack if (path := paths.resolve(loc.path, hint))]
    in_changed = [place for place in in_repo if place[0] in changed_paths]
    raised = (in_changed or in_repo)[-1] if in_repo else None
    test_path = paths.resolve(failure.file, hint)
    line = failure.line if test_path else None
    test_path = test_path or paths.resolve_class(failure.suite)
    if test_path is None:
        return None, raised
    if line is None:  # the test's file is known but not its line: its trace may say
        line = next((traced for path, traced in in_repo if path == test_path), None)
    return (test_path, line), raised


def annotations_for(
    failures: Iterable[TestFailure], paths: RepoPaths, changed_paths: Collection[str]
) -> list[Annotation]:
    """One annotation where each failing test is, and one more where it broke when that is
    elsewhere in the repository; each place and text once."""
    annotations: dict[tuple[str, int, str, str], Annotation] = {}
    for failure in failures:
        outcome = "errored" if failure.kind == "error" else "failed"
        test_place, raised = failure_places(failure, paths, changed_paths)
        located = [(test_place or raised, f"{failure.test_id} {outcome}")]
        if test_place and raised and raised != test_place:
            located.append((raised, f"{failure.test_id} {outcome} here"))
        for place, title in located:
            if place is None:
                continue
            path, line = place
            message = _clip(failure.message or outcome, ANNOTATION_MESSAGE_CHARS)
            if line is None:
                title, message = f"{title} (line not known)", f"{LINE_NOT_KNOWN}\n\n{message}"
            title = _clip(title, ANNOTATION_TITLE_CHARS)
            annotations.setdefault(
                (path, line or 1, title, message),
                Annotation(
                    path=path,
                    start_line=line or 1,
                    end_line=line or 1,
                    annotation_level="failure",
                    title=title,
                    message=_clip(message, ANNOTATION_MESSAGE_CHARS),
                    raw_details=_clip(failure.details, ANNOTATION_MESSAGE_CHARS) or None,
                ),
            )
        if len(annotations) >= MAX_ANNOTATIONS:
            break
    return list(annotations.values())[:MAX_ANNOTATIONS]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- failure signature -----------------------------------------------------------------------

_SOURCE_LOCATION = (
    r"[\w./@+-]*\.(?:py|pyx|js|jsx|mjs|cjs|ts|tsx|mts|cts|go|rs|java|kt|scala|rb|php|cs|c|cc|cpp|h|hpp|swift|"
    r"ex|exs|erl|dart|lua|sh|t|pl|pm):\d+(?::\d+)?"
)
_NORMALISERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<uuid>"),
    (
        re.compile(
            r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}[:_]\d{2}[:_]\d{2}(?:[.,_]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?"
        ),
        "<time>",
    ),
    (re.compile(r"\b\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\b"), "<time>"),
    (re.compile(r"\b0x[0-9a-f]+\b", re.I), "<addr>"),
    (re.compile(r'File "[^"\n]+", line \d+'), "<location>"),
    # Starts only where a path can start: without the lookbehind, a long line of word
    # characters is scanned again from every position (quadratic: a 300 KB line hung it).
    (re.compile(rf"(?:file://|(?<![\w./@+-])){_SOURCE_LOCATION}"), "<location>"),
    (re.compile(r"(?:/private)?/(?:tmp|var/tmp|var/folders|dev/shm)/\S*"), "<tmp>"),
    (re.compile(r"(?<![\w.~])(?:/[\w.@+-]+){2,}/?"), "<path>"),
    (
        re.compile(r"\b\d+(?:\.\d+)?(?:\s?(?:ns|µs|us|ms|secs?|seconds?|minutes?)|(?:s|m|h|min))\b"),
        "<duration>",
    ),
    (re.compile(r"\s+"), " "),
)
_ERROR_LOOKING = re.compile(
    r"\b(?:errors?|fail(?:ed|ure|ures|s)?|exception|panic(?:ked)?|traceback|fatal|assert\w*|not ok|"
    r"cannot|unable|denied|undefined|missing|refused)\b",
    re.I,
)


def normalise_message(text: str, checkout_root: str | None = None) -> str:
    """A message with what changes between two runs of the same failure (temporary folders and
    other absolute paths, source locations, addresses, durations, timestamps) replaced by
    placeholders. Numbers are kept: "3 != 4" and "3 != 5" are different failures."""
    text = strip_ansi(text)
    if checkout_root:
        text = text.replace(checkout_root.rstrip("/") + "/", "")
    for pattern, replacement in _NORMALISERS:
        text = pattern.sub(replacement, text)
    return text.strip()


def error_looking_lines(output: str, limit: int = SIGNATURE_ERROR_LINES) -> list[str]:
    """The last lines of an output that look like an error, else its last lines."""
    lines = [line for line in strip_ansi(output).splitlines()[-SIGNATURE_SCANNED_LINES:] if line.strip()]
    errors = [line for line in lines if _ERROR_LOOKING.search(line)]
    return (errors or lines)[-limit:]


def failure_signature(
    failures: Sequence[TestFailure],
    commands: Sequence[CommandResult],
    checkout_root: str | None = None,
    deployment: Deployment | None = None,
    checks: Sequence[CheckResult] = (),
) -> str:
    """A digest of what failed: each failing test's identity with its normalised error type and
    message; when no test failure was parsed, each failing command with how it ended (and the
    test it was running when stopped) and its normalised last error-looking lines. A failing
    HTTP check adds its name, its problem and the head of the body it got; an app that never
    got ready, the deploy output's last error-looking lines."""
    if failures:
        entries = {
            "\t".join(
                (
                    f.test_id,
                    f.error_type or "",
                    normalise_message(f.message, checkout_root)[:SIGNATURE_MESSAGE_CHARS],
                )
            )
            for f in failures
        }
    else:
        entries = {
            "\t".join(
                (
                    c.phase,
                    c.command,
                    f"timeout in {c.test_running_when_cut()}" if c.timed_out else f"exit {c.exit_code}",
                    normalise_message("\n".join(error_looking_lines(c.output)), checkout_root),
                )
            )
            for c in commands
            if not c.succeeded
        }
    entries |= {
        "\t".join(
            (
                "check",
                c.name,
                c.problem or "",
                normalise_message(c.body, checkout_root)[:SIGNATURE_MESSAGE_CHARS],
            )
        )
        for c in checks
        if not c.passed
    }
    if deployment is not None and not deployment.ready:
        lines = "\n".join(error_looking_lines(deployment.output))
        entries.add(f"deploy\tnot ready\t{normalise_message(lines, checkout_root)}")
    return hashlib.sha256("\n".join(sorted(entries)).encode()).hexdigest()


# -- the repository's own CI -----------------------------------------------------------------


def with_repo_checks(report: ValidationReport, checks: RepoChecks) -> ValidationReport:
    """The report with the repository's CI folded in: a check the pull request is blamed for
    turns a pass into a failure (its signature names the failing checks)."""
    update: dict[str, Any] = {"repo_checks": checks, "notes": [*report.notes, *checks.notes]}
    blamed = checks.blamed
    if report.verdict == "passed" and blamed:
        names = ", ".join(check.name for check in blamed)
        entries = sorted(f"repo-check\t{check.app}\t{check.name}\t{check.conclusion}" for check in blamed)
        update |= {
            "verdict": "failed",
            "summary": _clip(f"Repository checks failed: {names}", ANNOTATION_TITLE_CHARS),
            "failure_signature": hashlib.sha256("\n".join(entries).encode()).hexdigest(),
        }
    elif report.verdict == "passed":
        counts = [
            f"{count} {label}"
            for label, count in (
                ("passed", checks.count("passed")),
                ("already failing on the base branch", checks.count("failing_on_base")),
            )
            if count
        ]
        if counts:
            update["summary"] = f"{report.summary}; repository checks: {', '.join(counts)}"
    return report.model_copy(update=update)


# -- the AI review ---------------------------------------------------------------------------


def results_text(report: ValidationReport) -> str:
    """The validation's results in a few lines, for the reviewer: the verdict, each command and
    check, and each failing test with its message."""
    lines = [f"verdict: {report.verdict} ({report.summary})"]
    lines += [f"{c.phase}: {c.command} -> {'ok' if c.succeeded else c.describe()}" for c in report.commands]
    lines += [c.describe() for c in report.checks]
    lines += [f"failing test {f.test_id}: {f.message[:500]}" for f in report.failures[:50]]
    lines += [f"flaky test {test_id} (passed on a rerun)" for test_id in report.flaky_tests]
    return "\n".join(lines)


def with_review(report: ValidationReport, review: AIReview | None) -> ValidationReport:
    """The report with the AI review kept; a blocking review that requested changes fails a
    passing report (its signature names the findings' files and messages), and a blocking review
    that could not be obtained makes it an ``error`` (ours: not a pass, nothing for the agent)."""
    if review is None:
        return report
    update: dict[str, Any] = {"review": review}
    if review.blocks and report.verdict == "passed":
        entries = sorted(f"review\t{f.file}\t{normalise_message(f.message)}" for f in review.findings)
        update |= {
            "verdict": "failed",
            "summary": _clip(review.describe(), ANNOTATION_TITLE_CHARS),
            "failure_signature": hashlib.sha256("\n".join(entries or ["review"]).encode()).hexdigest(),
        }
    elif review.missing and report.verdict == "passed":
        update |= {"verdict": "error", "summary": _clip(review.describe(), ANNOTATION_TITLE_CHARS)}
    elif review.blocks or review.missing:
        update["summary"] = _clip(f"{report.summary}; {review.describe()}", ANNOTATION_TITLE_CHARS)
    return report.model_copy(update=update)


def review_annotations(review: AIReview | None) -> list[Annotation]:
    """The review's findings on files of the diff, as annotations: failures when the review
    blocks, else warnings and notices. A finding elsewhere is in the report's text only."""
    if review is None or review.status != "reviewed":
        return []
    changed = set(review.changed_files)
    levels: dict[str, Literal["notice", "warning", "failure"]] = {
        "error": "warning",
        "warning": "warning",
        "notice": "notice",
    }
    return [
        Annotation(
            path=finding.file,
            start_line=finding.line,
            end_line=finding.line,
            annotation_level="failure" if review.blocks else levels[finding.severity],
            title=f"AI review: {finding.severity}",
            message=_clip(finding.message, ANNOTATION_MESSAGE_CHARS),
        )
        for finding in review.findings
        if finding.file in changed
    ]
