"""Run one command from a pull request with limits: time, CPU, memory, processes, output.

- The command runs under a supervisor of its own (``reaper.py``, a child subreaper): when the
  command ends or times out, every process it started is killed, whatever session or group it
  made (``setsid``, double forks), and reaped before :func:`run` returns. As a fallback the
  command's process group is killed too.
- When the runner is root the command runs as an unprivileged user (:func:`unprivileged_user`),
  so the process limit holds and the command cannot signal its supervisor.
- Resource limits are set in the child before exec (``resource.setrlimit``).
- The environment is built from an allow-list, never inherited: nothing secret reaches PR code.
- Output (stdout and stderr interleaved) is read as it comes and only its head and tail are
  kept, so a command printing 100 MB costs a fixed amount of memory.

This is a process sandbox, not a container: code can read files the command's user can read.
The runner therefore keeps secrets out of files the commands could reach and marks itself
non-dumpable, so its ``/proc/<pid>/environ`` and memory cannot be read by the commands it starts.
A process that runs nothing but validations (the Lambda) also claims every orphan itself
(:func:`claim_runner_process`) and kills all of them between validations (:func:`kill_strays`),
in case a command of its own user killed its supervisor.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import pwd
import resource
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from codeloop.adapters import reaper

# Variables a command may inherit from the runner; everything else is dropped.
INHERITED_VARIABLES = ("PATH", "LANG", "LC_ALL", "TZ")
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
READ_SIZE = 65_536
HEARTBEAT_SECONDS = 60.0
DRAIN_SECONDS = 2.0  # after the group is killed, how long to read what is left in the pipe
STOP_SECONDS = 15.0  # how long the supervisor may take to kill everything after SIGTERM
SUPERVISOR = Path(reaper.__file__)
_PR_SET_DUMPABLE = 4
_runner_claims_orphans = False


@dataclass(frozen=True)
class SandboxUser:
    """The unprivileged user commands run as when the runner is root."""

    name: str
    uid: int
    gid: int


def unprivileged_user(name: str) -> SandboxUser | None:
    """``name`` when this process is root (commands must not run as root), else None (commands
    run as the runner's own user). Raises LookupError when root and the user does not exist."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise LookupError(f"no user named {name!r}") from None
    if entry.pw_uid == 0:
        raise LookupError(f"user {name!r} is root")
    return SandboxUser(name, entry.pw_uid, entry.pw_gid)


def command_user(name: str | None) -> SandboxUser | None:
    """The user commands run as: ``name`` when root; nobody else to be when ``name`` is unset
    (then, as root, say loudly that the process limit does not hold)."""
    if name:
        return unprivileged_user(name)
    if os.geteuid() == 0:
        from codeloop.observability import logger

        logger.warning(
            "validation commands run as root: the process limit does not hold (set VALIDATION_USER)"
        )
    return None


def claim_runner_process() -> bool:
    """For a process that runs nothing but validations: orphans of its commands reparent to it,
    and :func:`kill_strays` kills them. Returns whether the kernel agreed."""
    global _runner_claims_orphans
    _runner_claims_orphans = reaper.become_subreaper()
    return _runner_claims_orphans


def kill_strays() -> set[int]:
    """In a claimed runner process, kill every process below it (none should be left: each
    command's supervisor kills its own). Elsewhere (tests, a shared process) do nothing."""
    return reaper.kill_descendants() if _runner_claims_orphans else set()


@dataclass(frozen=True)
class Limits:
    """What one command may use. Memory is RLIMIT_DATA (heap and private mappings), which, unlike
    RLIMIT_AS, does not break runtimes that reserve large address ranges (Go, V8, the JVM)."""

    cpu_seconds: int | None = None  # None: derived from the time limit
    memory_bytes: int | None = None  # None: 3/4 of the machine's memory, at most 4 GiB
    max_processes: int = 4096  # RLIMIT_NPROC: counts the user's threads too (not enforced for root)
    max_file_bytes: int = 2 * 1024**3
    max_open_files: int = 4096
    output_head_bytes: int = 16 * 1024
    output_tail_bytes: int = 48 * 1024


@dataclass(frozen=True)
class CommandRun:
    exit_code: int | None  # None when killed by a signal
    signal: int | None
    timed_out: bool
    duration_seconds: float
    output: str
    output_bytes: int
    output_cut_bytes: int


class OutputCapture:
    """Keeps the first ``head`` and the last ``tail`` bytes of a stream, and counts the rest."""

    def __init__(self, head: int, tail: int):
        self._head_limit = head
        self._tail_limit = tail
        self._head = bytearray()
        self._tail = bytearray()
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self._head_limit - len(self._head)
        if room > 0:
            self._head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self._tail += chunk
            if len(self._tail) > 2 * self._tail_limit:  # trim in batches: amortised O(1)
                del self._tail[: len(self._tail) - self._tail_limit]

    @property
    def cut(self) -> int:
        return max(0, self.total - len(self._head) - min(len(self._tail), self._tail_limit))

    def text(self) -> str:
        tail = bytes(self._tail[-self._tail_limit :]) if self._tail_limit else b""
        head = self._head.decode(errors="replace")
        if not self.cut:
            return head + tail.decode(errors="replace")
        marker = f"\n… [{self.cut} bytes of output cut; {self.total} bytes in all] …\n"
        return head + marker + tail.decode(errors="replace")


def sandbox_environment(home: Path, tmp: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment a command sees: an allow-list of the runner's, plus CI markers."""
    env = {name: os.environ[name] for name in INHERITED_VARIABLES if os.environ.get(name)}
    env.setdefault("PATH", DEFAULT_PATH)
    env.setdefault("LANG", "C.UTF-8")
    env.update(
        {
            "HOME": str(home),
            "TMPDIR": str(tmp),
            "CI": "true",
            "CODELOOP": "true",
            "TERM": "dumb",
            "NO_COLOR": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if extra:
        env.update(extra)
    return env


@functools.cache
def protect_runner_process() -> bool:
    """Make this process non-dumpable: its /proc files (environ, mem) become unreadable to other
    processes of the same user, such as the commands it runs. Returns whether it worked."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def default_memory_bytes() -> int:
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        physical = 4 * 1024**3
    return min(4 * 1024**3, physical * 3 // 4)


def _set_limit(kind: int, value: int) -> None:
    _, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(kind, (value, value if hard == resource.RLIM_INFINITY else hard))


def _limit_child(limits: Limits, cpu_seconds: int, memory_bytes: int) -> None:
    """Runs in the child between fork and exec."""
    _set_limit(resource.RLIMIT_CPU, cpu_seconds)
    _set_limit(resource.RLIMIT_DATA, memory_bytes)
    _set_limit(resource.RLIMIT_NPROC, limits.max_processes)
    _set_limit(resource.RLIMIT_FSIZE, limits.max_file_bytes)
    _set_limit(resource.RLIMIT_NOFILE, limits.max_open_files)
    _set_limit(resource.RLIMIT_CORE, 0)


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Have the supervisor kill everything and exit (it does so by itself when the command ended);
    then kill the group, in case the command killed its supervisor."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_SECONDS)
    kill_group(process.pid)


def _spawn(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout_seconds: float,
    limits: Limits,
    user: SandboxUser | None,
    hold: bool = False,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` under its supervisor, with the limits set in the child before exec.
    ``hold``: the supervisor keeps what the command started alive until it is told to stop."""
    protect_runner_process()
    cpu_seconds = limits.cpu_seconds or int(timeout_seconds * (os.cpu_count() or 1)) + 1
    memory_bytes = limits.memory_bytes or default_memory_bytes()
    options = [*(["--user", f"{user.uid}:{user.gid}"] if user else []), *(["--hold"] if hold else [])]
    return subprocess.Popen(
        [sys.executable, "-I", "-S", str(SUPERVISOR), *options, "--", *argv],
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        close_fds=True,
        preexec_fn=functools.partial(_limit_child, limits, cpu_seconds, memory_bytes),
    )


def run(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout_seconds: float,
    limits: Limits | None = None,
    heartbeat: Callable[[], None] | None = None,
    user: SandboxUser | None = None,
) -> CommandRun:
    """Run ``argv`` to completion or to ``timeout_seconds``, whichever comes first; when this
    returns, no process the command started is left.

    ``heartbeat`` is called about once a minute while the command runs (a long-running worker
    tells Step Functions it is alive). ``user``: run the command as that user (root only).
    """
    limits = limits or Limits()
    capture = OutputCapture(limits.output_head_bytes, limits.output_tail_bytes)
    started = time.monotonic()
    process = _spawn(argv, cwd=cwd, env=env, timeout_seconds=timeout_seconds, limits=limits, user=user)
    assert process.stdout is not None
    timed_out = False
    try:
        timed_out = _pump(process, capture, started + timeout_seconds, heartbeat)
    finally:
        _stop(process)
        _drain(process, capture)
        process.stdout.close()
        process.wait()
    code = process.returncode
    return CommandRun(
        exit_code=None if timed_out or code < 0 else code,
        signal=-code if code < 0 and not timed_out else None,
        timed_out=timed_out,
        duration_seconds=time.monotonic() - started,
        output=capture.text(),
        output_bytes=capture.total,
        output_cut_bytes=capture.cut,
    )


class Background:
    """A command left running (a web app) under a supervisor that holds everything it starts,
    daemons included, until :meth:`stop`; its output is read by a thread, head and tail kept.
    Use it as a context manager so it is stopped and reaped however the caller leaves."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        timeout_seconds: float,
        limits: Limits | None = None,
        user: SandboxUser | None = None,
    ):
        limits = limits or Limits()
        self.capture = OutputCapture(limits.output_head_bytes, limits.output_tail_bytes)
        self._lock = threading.Lock()
        self.started = time.monotonic()
        self.process = _spawn(
            argv, cwd=cwd, env=env, timeout_seconds=timeout_seconds, limits=limits, user=user, hold=True
        )
        self._reader = threading.Thread(target=self._read_all, name="background-output", daemon=True)
        self._reader.start()
        self.result: CommandRun | None = None

    def _read_all(self) -> None:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        while chunk := os.read(fd, READ_SIZE):
            with self._lock:
                self.capture.feed(chunk)

    def output(self) -> str:
        """What it printed so far (head and tail)."""
        with self._lock:
            return self.capture.text()

    def command_running(self) -> bool:
        """Whether the command or anything it started still runs (the supervisor exits when
        nothing is left to hold)."""
        return self.process.poll() is None

    def stop(self) -> CommandRun:
        """Kill and reap everything the command started; its output and how it ended."""
        if self.result is None:
            _stop(self.process)
            self._reader.join(DRAIN_SECONDS)
            assert self.process.stdout is not None
            self.process.stdout.close()
            code = self.process.wait()
            with self._lock:
                self.result = CommandRun(
                    exit_code=code if code >= 0 else None,
                    signal=-code if code < 0 else None,
                    timed_out=False,
                    duration_seconds=time.monotonic() - self.started,
                    output=self.capture.text(),
                    output_bytes=self.capture.total,
                    output_cut_bytes=self.capture.cut,
                )
        return self.result

    def __enter__(self) -> Background:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def _pump(
    process: subprocess.Popen[bytes],
    capture: OutputCapture,
    deadline: float,
    heartbeat: Callable[[], None] | None,
) -> bool:
    """Read output until the command exits; True when the deadline came first."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    os.set_blocking(fd, False)
    next_beat = time.monotonic() + HEARTBEAT_SECONDS
    pipe_open = True
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            now = time.monotonic()
            if now >= deadline:
                return True
            if heartbeat is not None and now >= next_beat:
                heartbeat()
                next_beat = now + HEARTBEAT_SECONDS
            if process.poll() is not None:
                return False  # exited: the caller kills what it left behind and drains the pipe
            wait = min(0.25, deadline - now)
            if not pipe_open:  # the command closed its output but is still running
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=wait)
            elif selector.select(timeout=wait):
                chunk = _read(fd)
                if chunk == b"":
                    pipe_open = False
                    selector.unregister(fd)
                elif chunk:
                    capture.feed(chunk)


def _read(fd: int) -> bytes | None:
    try:
        return os.read(fd, READ_SIZE)
    except BlockingIOError:
        return None


def _drain(process: subprocess.Popen[bytes], capture: OutputCapture) -> None:
    """Read what is left in the pipe after the group was killed (bounded: a process that
    escaped the group could keep it open)."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    deadline = time.monotonic() + DRAIN_SECONDS
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while (remaining := deadline - time.monotonic()) > 0:
            if not selector.select(timeout=remaining):
                return
            chunk = _read(fd)
            if chunk == b"":
                return
            if chunk:
                capture.feed(chunk)
