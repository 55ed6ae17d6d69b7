"""The supervisor of one sandboxed command: it outlives every process the command starts.

Run as ``python -I -S reaper.py [--user UID:GID] -- ARGV...`` (standard library only, so it
starts in a few milliseconds and imports nothing from the runner). It makes itself a *child
subreaper* (``prctl(PR_SET_CHILD_SUBREAPER)``): a process the command double-forks into a new
session (``setsid``, daemons) is orphaned onto this supervisor instead of init, so it stays in
the supervisor's tree. When the command exits, or the supervisor gets SIGTERM (the runner's
time limit), every descendant is killed with SIGKILL, whatever session or group it made, and
reaped until none is left; only then does the supervisor exit with the command's status.

With ``--hold`` (a deployment left running in the background) the supervisor does not stop at
the command's end: what the command started (a server it daemonised) keeps running, reaped as it
ends, until SIGTERM; then everything is killed and the supervisor exits with the command's status
if it had ended, else 128 + SIGTERM. When nothing is left to hold it exits by itself, as the
command did.

With ``--user`` (the runner is root) the command runs as that unprivileged user while the
supervisor stays root, so the command can neither kill its supervisor nor escape the process
limit (RLIMIT_NPROC does not hold for root).

:func:`kill_descendants` is also what a dedicated runner process (the Lambda) calls on itself
before a checkout and after the commands.
"""

from __future__ import annotations

import _signal as signal  # the C module: `signal` imports enum and collections, tens of ms a command
import ctypes
import os
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
KILL_DEADLINE_SECONDS = 10.0  # a descendant we may not kill (another user's) must not hang us


def become_subreaper() -> bool:
    """Orphaned descendants reparent to this process from now on; returns whether it worked."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def descendants(root: int) -> set[int]:
    """Every living (not zombie) process below ``root``, from each process's parent in /proc."""
    children: dict[int, list[int]] = {}
    with os.scandir("/proc") as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as handle:
                    fields = handle.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if fields[0] not in (b"Z", b"X"):
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def _reap_exited() -> bool:
    """Reap every exited child; True when this process has no child left at all."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return True
        if pid == 0:
            return False


def kill_descendants() -> set[int]:
    """SIGKILL every descendant of this process and reap them, again and again until none is
    left (a dying process's children reparent to the subreaper). Returns the pids killed.
    Call it only when no child is being waited for elsewhere."""
    root = os.getpid()
    killed: set[int] = set()
    deadline = time.monotonic() + KILL_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        alive = descendants(root)
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except (ProcessLookupError, PermissionError):
                continue
        no_children = _reap_exited()
        if not alive and no_children:
            return killed
        time.sleep(0.001)
    return killed


def _parse(argv: list[str]) -> tuple[tuple[int, int] | None, bool, list[str]]:
    user = None
    if argv[:1] == ["--user"]:
        uid, gid = argv[1].split(":")
        user = (int(uid), int(gid))
        argv = argv[2:]
    hold = argv[:1] == ["--hold"]
    if hold:
        argv = argv[1:]
    if argv[:1] != ["--"] or len(argv) < 2:
        raise SystemExit("usage: reaper.py [--user UID:GID] [--hold] -- ARGV...")
    return user, hold, argv[1:]


def _program(name: str) -> str:
    """``name`` looked up on PATH, before dropping privileges (after, this interpreter's own
    library may be unreadable)."""
    if "/" in name:
        return name
    for directory in os.get_exec_path():
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate):
            return candidate
    return name


def _exec_command(program: str, command: list[str], user: tuple[int, int] | None) -> None:
    """In the forked child: drop to the user, then become the command."""
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if user is not None:
            os.setgroups([])
            os.setgid(user[1])
            os.setuid(user[0])
        os.execv(program, command)  # noqa: S606 - running the command is the point
    except OSError as exc:
        os.write(2, f"cannot run {command[0]}: {exc.strerror}\n".encode())
    os._exit(127)


_command_status: int | None = None  # with --hold: how the command ended, once it has


def _exit_as_command() -> None:
    code = os.waitstatus_to_exitcode(_command_status)
    os._exit(code if code >= 0 else 128 - code)


def _stop(signum: int, _frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    kill_descendants()
    if _command_status is not None:
        _exit_as_command()
    os._exit(128 + signum)


def _hold_until_stopped(child: int) -> None:
    """Reap whatever ends (the command, then its daemons) until SIGTERM (:func:`_stop`), or until
    nothing is left to hold: then exit as the command did."""
    global _command_status
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            _exit_as_command()
        if pid == child:
            _command_status = status


def main(argv: list[str]) -> int:
    user, hold, command = _parse(argv)
    program = _program(command[0])
    become_subreaper()
    signal.signal(signal.SIGTERM, _stop)
    child = os.fork()
    if child == 0:
        _exec_command(program, command, user)
    if hold:
        _hold_until_stopped(child)
    _, status = os.waitpid(child, 0)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    kill_descendants()
    if os.WIFSIGNALED(status):  # end the same way, so the runner sees the signal
        signum = os.WTERMSIG(status)
        if signum != signal.SIGKILL:
            signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return 128 + signum
    return os.WEXITSTATUS(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
