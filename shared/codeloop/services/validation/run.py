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
class CommandOutcome:
    """One test command's run: its index in the report's commands, and the failures it reported."""

    index: int
    failures: list[TestFailure]
    source: ResultsSource


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
    sweep_stale_workdirs(work_root, user)
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
    validation's own toolchain, and build the report. When test commands fail, each one's failing
    tests (parsed from its own results) run once more: those that pass then are flaky, not failures."""
    started = started if started is not None else time.monotonic()
    env = sandbox.sandbox_environment(dirs.home, dirs.tmp)
    owner = (dirs.user.uid, dirs.user.gid) if dirs.user else None
    env.update(toolchain.create(dirs.root / "toolchain", owner).environment(env["PATH"]))
    commands: list[CommandResult] = []
    notes: list[str] = []

    def run(phase: Phase, line: str) -> bool:
        """Run ``line`` and keep its result; False (a "not started" result kept) when no time is left."""
        if time.monotonic() >= deadline:
            commands.append(_not_started(phase, line, limits))
            return False
        commands.append(_run_command(phase, line, dirs, env, limits, deadline, heartbeat))
        return True

    def run_test(phase: Phase, line: str, rerun_of: int | None = None) -> CommandOutcome | None:
        """Run one test command: the failures the JUnit files it wrote report (a file cut inside a
        test case names the test it was in), else those its output reports. None when no time is left."""
        before = _junit_snapshot(dirs.checkout, config.validation.junit)
        if not run(phase, line):
            return None
        written = [
            path
            for path, stamp in _junit_snapshot(dirs.checkout, config.validation.junit).items()
            if before.get(path) != stamp
        ]
        junit = _parse_junit_files(dirs.checkout, written)
        if phase == "test":  # a rerun writes the same files again: its notes would repeat these
            notes.extend(junit.notes)
        result = commands[-1] = commands[-1].model_copy(
            update={"junit_open_test": junit.open_test, "rerun_of": rerun_of}
        )
        if junit.parsed:
            return CommandOutcome(len(commands) - 1, junit.failures, "junit")
        failures = parse_test_output(result.output)
        return CommandOutcome(len(commands) - 1, failures, "output" if failures else "none")

    def rerun_failing(test: CommandOutcome) -> tuple[list[TestFailure], list[TestFailure]]:
        """(still failing, flaky) of one test command: its failing tests once more, when it failed
        (not at its time limit) and can be narrowed to them."""
        command = commands[test.index]
        failed = not command.succeeded and not command.timed_out
        narrowed = failed and rerun_command(command.command, test.failures)
        rerun = run_test("rerun", narrowed, rerun_of=test.index) if narrowed else None
        if rerun is None:
            return test.failures, []
        return split_flaky(test.failures, commands[rerun.index].succeeded, rerun.failures)

    for line in config.validation.setup:
        if not run("setup", line) or not commands[-1].succeeded:
            break
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
                tests: list[CommandOutcome] = []
                for line in config.validation.test:
                    if (test := run_test("test", line)) is None:
                        break
                    tests.append(test)
                for test in tests:  # each failed command's own failures, once all have run
                    still, spared = rerun_failing(test)
                    failures += still
                    flaky += spared
                sources = {test.source for test in tests}
                source = "junit" if "junit" in sources else "output" if "output" in sources else "none"
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


@dataclass
class JUnitResults:
    failures: list[TestFailure] = field(default_factory=list)  # from every readable file
    parsed: int = 0  # how many files parsed
    notes: list[str] = field(default_factory=list)  # why the others could not be used
    open_test: str | None = None  # the test case a file cut short ends inside


def _parse_junit_files(checkout: Path, paths: Sequence[Path]) -> JUnitResults:
    """What the JUnit files at ``paths`` report.

    Only regular files inside the checkout are read: a symlink planted by the PR is not followed."""
    results = JUnitResults()
    notes = results.notes
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
                results.failures.extend(parse_junit_chunks(iter(lambda h=handle: h.read(READ_CHUNK), b"")))
            results.parsed += 1
        except JUnitError as exc:
            notes.append(f"{name}: {exc}")
            results.open_test = exc.open_test or results.open_test
        except OSError as exc:
            notes.append(f"{name}: cannot be read ({exc.strerror})")
    return results


# -- working directories ---------------------------------------------------------------------


def remove_tree(path: Path) -> None:
    """Remove a working directory even where the commands made files read-only (Go's module
    cache does). Permissions are only ever loosened on what really lies inside ``path``: never on
    its parent, nor through a symlink (``path`` itself being one included)."""
    tree = os.path.join(os.path.realpath(path.parent), path.name)

    def make_writable_and_retry(function: Callable[[str], object], target: str, _: object) -> None:
        try:
            for candidate in (os.path.dirname(target), target):
                if _really_inside(candidate, tree):
                    os.chmod(candidate, 0o700)
            function(target)
        except OSError:
            pass

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=make_writable_and_retry)
    else:
        shutil.rmtree(path, onerror=make_writable_and_retry)


def _really_inside(path: str, tree: str) -> bool:
    """Whether ``path``, symlinks resolved, is ``tree`` or lies below it."""
    real = os.path.realpath(path)
    return real == tree or real.startswith(tree + os.sep)


def sweep_stale_workdirs(work_root: Path | None, user: sandbox.SandboxUser | None = None) -> None:
    """Remove working directories a crashed or timed-out invocation left in a reused /tmp.

    Judged by lstat, never following a symlink: only stale entries owned by this process's user
    or ``user`` (whom the commands ran as) are touched. A real directory is removed; anything else
    under the prefix, such as a symlink a command planted, is unlinked itself."""
    root = work_root or Path(tempfile.gettempdir())
    cutoff = time.time() - STALE_WORKDIR_SECONDS
    owners = {os.geteuid()} | ({user.uid} if user else set())
    for path in root.glob(WORKDIR_PREFIX + "*"):
        try:
            info = path.lstat()
            if info.st_uid not in owners or info.st_mtime >= cutoff:
                continue
            if stat.S_ISDIR(info.st_mode):
                remove_tree(path)
            else:
                path.unlink()
        except OSError:
            continue
