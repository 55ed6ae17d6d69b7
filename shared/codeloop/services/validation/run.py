"""Validate a pull request's head: checkout → setup → deploy, ready, checks → test → parse results
→ report.

The caller (the validation_runner handler) supplies the repository's configuration from the
default branch, never the PR's, an installation token narrowed to the repository and
``contents: read``, and the paths the PR changes. Everything happens in a fresh working directory
that is always removed afterwards.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from codeloop.adapters import git_checkout, sandbox, toolchain
from codeloop.domain.repo_config import RepoConfig
from codeloop.domain.reruns import rerun_command, split_flaky
from codeloop.domain.test_results import JUnitError, TestFailure, parse_junit_chunks, parse_test_output
from codeloop.domain.validation import (
    CommandResult,
    Phase,
    ResultsSource,
    ValidationReport,
    build_report,
    error_report,
    not_run_report,
    reason_not_to_run,
)
from codeloop.services.validation.deploy import DeployStage

WORKDIR_PREFIX = "codeloop-validation-"
CHECKOUT_SECONDS = 300.0
# Where test runners commonly write JUnit XML, besides what validation.junit names.
DEFAULT_JUNIT_PATTERNS = (
    "report.xml",
    "junit.xml",
    "test-results.xml",
    "test-report.xml",
    "junit/*.xml",
    "reports/*.xml",
    "test-results/**/*.xml",
    "target/surefire-reports/TEST-*.xml",
    "*/target/surefire-reports/TEST-*.xml",
    "build/test-results/**/*.xml",
    "*/build/test-results/**/*.xml",
)
MAX_JUNIT_FILES = 200
MAX_JUNIT_BYTES = 64 * 1024**2
READ_CHUNK = 1024**2
STALE_WORKDIR_SECONDS = 3 * 3600  # longer than any allowed timeout_minutes


@dataclass(frozen=True)
class RunLimits:
    total_seconds: float  # the whole validation, checkout included
    command_seconds: float  # any one setup or test command
    checkout_seconds: float = CHECKOUT_SECONDS
    sandbox: sandbox.Limits = field(default_factory=sandbox.Limits)

    @classmethod
    def for_config(cls, config: RepoConfig, budget_seconds: float | None = None) -> RunLimits:
        """``validation.timeout_minutes``, cut to ``budget_seconds`` when the caller has less time
        (a Lambda's remaining time minus a margin to report)."""
        total = config.validation.timeout_minutes * 60.0
        if budget_seconds is not None:
            total = max(1.0, min(total, budget_seconds))
        return cls(total_seconds=total, command_seconds=total, checkout_seconds=min(CHECKOUT_SECONDS, total))


@dataclass(frozen=True)
class SandboxDirs:
    """The fresh directories one validation works in, and the user its commands run as. The
    root is private (0700) to that user: nothing of another validation can read it."""

    root: Path
    home: Path
    tmp: Path
    checkout: Path
    user: sandbox.SandboxUser | None = None

    @classmethod
    def create(cls, work_root: Path | None, user: sandbox.SandboxUser | None = None) -> SandboxDirs:
        root = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX, dir=work_root))
        dirs = cls(root, root / "home", root / "tmp", root / "checkout", user)
        dirs.home.mkdir(mode=0o700)
        dirs.tmp.mkdir(mode=0o700)
        if user is not None:
            for path in (dirs.root, dirs.home, dirs.tmp):
                os.chown(path, user.uid, user.gid)
        return dirs


def run_validation(
    *,
    clone_url: str,
    head_sha: str,
    token: str,
    config: RepoConfig | None,
    is_fork: bool,
    changed_paths: Collection[str],
    limits: RunLimits | None = None,
    work_root: Path | None = None,
    heartbeat: Callable[[], None] | None = None,
    user: sandbox.SandboxUser | None = None,
) -> ValidationReport:
    """Check out ``head_sha`` and run the configured setup and test commands against it.

    ``config`` None means the repository has no ``.github/codeloop.yml``. Never raises for the
    PR's or the repository's faults: they end in the report (``failed``, ``error``, ``not_run``).
    ``user``: the unprivileged user git and the commands run as (when the runner is root).
    Before the checkout and after the commands, a runner process that claimed its orphans kills
    every process left below it (each command's supervisor already killed its own).
    """
    config = config or RepoConfig()
    if reason := reason_not_to_run(config, is_fork=is_fork):
        return not_run_report(reason, head_sha)
    limits = limits or RunLimits.for_config(config)
    started = time.monotonic()
    deadline = started + limits.total_seconds
    sandbox.kill_strays()
    sweep_stale_workdirs(work_root)
    dirs = SandboxDirs.create(work_root, user)
    try:
        try:
            checkout = git_checkout.checkout(
                clone_url,
                head_sha,
                token,
                dirs.checkout,
                home=dirs.home,
                tmp=dirs.tmp,
                timeout_seconds=min(limits.checkout_seconds, limits.total_seconds),
                user=user,
            )
        except git_checkout.CheckoutError as exc:
            return error_report(f"Checkout failed: {exc}", head_sha, time.monotonic() - started)
        return validate_checkout(
            dirs,
            head_sha=head_sha,
            repo_files=checkout.files,
            config=config,
            changed_paths=changed_paths,
            limits=limits,
            deadline=deadline,
            heartbeat=heartbeat,
            started=started,
        )
    finally:
        sandbox.kill_strays()
        remove_tree(dirs.root)


def validate_checkout(
    dirs: SandboxDirs,
    *,
    head_sha: str,
    repo_files: Collection[str],
    config: RepoConfig,
    changed_paths: Collection[str],
    limits: RunLimits,
    deadline: float,
    heartbeat: Callable[[], None] | None = None,
    started: float | None = None,
) -> ValidationReport:
    """Run setup, the deploy stage (start the app, wait until ready, HTTP checks: ``deploy.py``),
    then the tests against the running app, in ``dirs.checkout`` (already checked out), with the
    validation's own toolchain, and build the report. When one test command failed, its failing
    tests run once more: those that pass then are flaky, not failures."""
    started = started if started is not None else time.monotonic()
    env = sandbox.sandbox_environment(dirs.home, dirs.tmp)
    owner = (dirs.user.uid, dirs.user.gid) if dirs.user else None
    env.update(toolchain.create(dirs.root / "toolchain", owner).environment(env["PATH"]))
    commands: list[CommandResult] = []

    def run_phase(phase: Phase, lines: Sequence[str], stop_at_failure: bool) -> None:
        for line in lines:
            if time.monotonic() >= deadline:
                commands.append(_not_started(phase, line, limits))
                return
            result = _run_command(phase, line, dirs, env, limits, deadline, heartbeat)
            commands.append(result)
            if stop_at_failure and not result.succeeded:
                return

    def run_and_collect(
        phase: Phase, lines: Sequence[str]
    ) -> tuple[list[TestFailure], ResultsSource, list[str]]:
        """Run ``lines``; the failures their JUnit files (those they wrote) or outputs report."""
        before = _junit_snapshot(dirs.checkout, config.validation.junit)
        first = len(commands)
        run_phase(phase, lines, stop_at_failure=False)
        written = [
            path
            for path, stamp in _junit_snapshot(dirs.checkout, config.validation.junit).items()
            if before.get(path) != stamp
        ]
        failures, parsed, notes = _parse_junit_files(dirs.checkout, written)
        if parsed:
            return failures, "junit", notes
        failures = [f for c in commands[first:] for f in parse_test_output(c.output)]
        return failures, "output" if failures else "none", notes

    run_phase("setup", config.validation.setup, stop_at_failure=True)
    notes: list[str] = []
    failures: list[TestFailure] = []
    flaky: list[TestFailure] = []
    source: ResultsSource = "none"
    deploy = DeployStage(
        config.validation,
        checkout=dirs.checkout,
        env=env,
        limits=limits.sandbox,
        user=dirs.user,
        deadline=deadline,
        heartbeat=heartbeat,
    )
    if all(c.succeeded for c in commands):
        with deploy:  # the app runs (if validation.deploy starts one) until the tests are done
            if deploy.ready:
                failures, source, notes = run_and_collect("test", config.validation.test)
                failed = [c for c in commands if c.phase == "test" and not c.succeeded]
                rerun = (
                    len(failed) == 1 and not failed[0].timed_out and rerun_command(failed[0].command, failures)
                )
                if rerun:
                    rerun_failures, _, _ = run_and_collect("rerun", [rerun])
                    failures, flaky = split_flaky(failures, commands[-1].succeeded, rerun_failures)
    return build_report(
        head_sha=head_sha,
        commands=commands,
        failures=failures,
        results_source=source,
        changed_paths=changed_paths,
        repo_files=repo_files,
        checkout_root=str(dirs.checkout),
        duration_seconds=time.monotonic() - started,
        notes=notes,
        flaky=flaky,
        deployment=deploy.deployment,
        checks=deploy.checks,
    )


def _not_started(phase: Phase, command: str, limits: RunLimits) -> CommandResult:
    return CommandResult(
        phase=phase,
        command=command,
        exit_code=None,
        timed_out=True,
        duration_seconds=0.0,
        output=f"not started: the total time limit of {limits.total_seconds:.0f} s was spent",
        output_bytes=0,
    )


def _run_command(
    phase: Phase,
    command: str,
    dirs: SandboxDirs,
    env: dict[str, str],
    limits: RunLimits,
    deadline: float,
    heartbeat: Callable[[], None] | None,
) -> CommandResult:
    remaining = deadline - time.monotonic()
    result = sandbox.run(
        ["/bin/sh", "-c", command],
        cwd=dirs.checkout,
        env=env,
        timeout_seconds=min(limits.command_seconds, remaining),
        limits=limits.sandbox,
        heartbeat=heartbeat,
        user=dirs.user,
    )
    return CommandResult(
        phase=phase,
        command=command,
        exit_code=result.exit_code,
        signal=result.signal,
        timed_out=result.timed_out,
        duration_seconds=result.duration_seconds,
        output=result.output,
        output_bytes=result.output_bytes,
        output_cut_bytes=result.output_cut_bytes,
    )


# -- JUnit files -----------------------------------------------------------------------------


def _junit_candidates(checkout: Path, configured: Sequence[str]) -> Iterator[Path]:
    for pattern in (*configured, *DEFAULT_JUNIT_PATTERNS):
        pure = PurePosixPath(pattern)
        if pure.is_absolute() or ".." in pure.parts:
            continue
        yield from checkout.glob(pattern)


def _junit_snapshot(checkout: Path, configured: Sequence[str]) -> dict[Path, tuple[int, int]]:
    """(mtime, size) of every JUnit candidate: what the test commands write is what changes."""
    snapshot: dict[Path, tuple[int, int]] = {}
    for path in _junit_candidates(checkout, configured):
        try:
            info = path.lstat()
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode):
            snapshot[path] = (info.st_mtime_ns, info.st_size)
        if len(snapshot) >= MAX_JUNIT_FILES:
            break
    return snapshot


def _parse_junit_files(checkout: Path, paths: Sequence[Path]) -> tuple[list[TestFailure], int, list[str]]:
    """Failures from every readable JUnit file, how many files parsed, and notes on the others.

    Only regular files inside the checkout are read: a symlink planted by the PR is not followed."""
    failures: list[TestFailure] = []
    notes: list[str] = []
    parsed = 0
    root = checkout.resolve()
    for path in sorted(paths):
        name = path.relative_to(checkout).as_posix()
        try:
            if not path.resolve().is_relative_to(root):
                notes.append(f"{name}: skipped, it leads outside the checkout")
                continue
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size > MAX_JUNIT_BYTES:
                    notes.append(f"{name}: skipped, {size} bytes is over the {MAX_JUNIT_BYTES} byte limit")
                    continue
                failures.extend(parse_junit_chunks(iter(lambda h=handle: h.read(READ_CHUNK), b"")))
            parsed += 1
        except JUnitError as exc:
            notes.append(f"{name}: {exc}")
        except OSError as exc:
            notes.append(f"{name}: cannot be read ({exc.strerror})")
    return failures, parsed, notes


# -- working directories ---------------------------------------------------------------------


def remove_tree(path: Path) -> None:
    """Remove a working directory even where the commands made files read-only (Go's module
    cache does)."""

    def make_writable_and_retry(function: Callable[[str], object], target: str, _: object) -> None:
        try:
            os.chmod(os.path.dirname(target), 0o700)
            if not os.path.islink(target):
                os.chmod(target, 0o700)
            function(target)
        except OSError:
            pass

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=make_writable_and_retry)
    else:
        shutil.rmtree(path, onerror=make_writable_and_retry)


def sweep_stale_workdirs(work_root: Path | None) -> None:
    """Remove working directories a crashed or timed-out invocation left in a reused /tmp."""
    root = work_root or Path(tempfile.gettempdir())
    cutoff = time.time() - STALE_WORKDIR_SECONDS
    for path in root.glob(WORKDIR_PREFIX + "*"):
        try:
            if path.is_dir() and path.lstat().st_mtime < cutoff:
                remove_tree(path)
        except OSError:
            continue
