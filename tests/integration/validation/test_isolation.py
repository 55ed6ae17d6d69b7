"""Nothing of one validation survives into the next: processes, files, tokens."""

from __future__ import annotations

import base64
import json
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from codeloop.adapters import sandbox
from codeloop.domain.repo_config import RepoConfig
from codeloop.services.validation.run import WORKDIR_PREFIX, RunLimits, run_validation
from tests.fakes.git_http import GitHttpServer
from tests.integration.validation.conftest import TOKEN

NEXT_TOKEN = "ghs_NextInstallationToken9876543210fedcba"


def spy_daemon(spy: Path, work: Path) -> str:
    """A test command that double-forks a daemon into a new session; the daemon records every
    validation folder it can list, every git credential it can read from /proc or from files,
    until it is killed."""
    loop = (
        f"echo \\$\\$ > {spy}/daemon.pid; "
        "while :; do "
        f"ls -d {work}/{WORKDIR_PREFIX}* >> {spy}/folders 2>/dev/null; "
        f"cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -a Authorization >> {spy}/tokens; "
        f"cat {work}/{WORKDIR_PREFIX}*/tmp/.git-auth-* >> {spy}/tokens 2>/dev/null; "
        "sleep 0.01; done"
    )
    started = f"i=0; while [ ! -s {spy}/daemon.pid ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done"
    return f'( setsid sh -c "{loop}" </dev/null >/dev/null 2>&1 & ) ; {started}; echo daemon started'


def config(*test: str) -> RepoConfig:
    return RepoConfig.model_validate({"validation": {"test": list(test)}})


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def validate(server: GitHttpServer, work: Path, cfg: RepoConfig, **options):
    sha = server.repository("octo/calc").commit({"calc.py": "x = 1\n"})
    return run_validation(
        clone_url=server.clone_url("octo/calc"),
        head_sha=sha,
        token=server.token,
        config=cfg,
        is_fork=False,
        changed_paths=set(),
        work_root=work,
        **options,
    )


def test_a_setsid_daemon_of_one_validation_finds_nothing_of_the_next(
    git_server: GitHttpServer, tmp_path: Path
):
    spy, work = tmp_path / "spy", tmp_path / "work"
    spy.mkdir()
    work.mkdir()
    first = validate(git_server, work, config(spy_daemon(spy, work)))
    assert first.verdict == "passed", first
    daemon = int((spy / "daemon.pid").read_text())
    assert not alive(daemon), "the daemon outlived its validation"

    git_server.token = NEXT_TOKEN  # the next validation: another repository's token
    second = validate(git_server, work, config("echo next"))
    assert second.verdict == "passed", second
    assert git_server.authorized_calls()
    next_secrets = (NEXT_TOKEN, base64.b64encode(f"x-access-token:{NEXT_TOKEN}".encode()).decode())
    seen_tokens = (spy / "tokens").read_text() if (spy / "tokens").exists() else ""
    assert not any(secret in seen_tokens for secret in next_secrets)
    seen_folders = set((spy / "folders").read_text().split()) if (spy / "folders").exists() else set()
    assert len(seen_folders) <= 1, "the daemon saw the next validation's folder"
    assert list(work.iterdir()) == []


def test_the_token_reaches_git_through_a_file_that_no_process_or_command_sees(
    git_server: GitHttpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A ``git`` first on PATH records each git process's environment and the files it was
    given; the token is in none of the environments, and its file is gone before commands run."""
    spy = tmp_path / "spy"
    spy.mkdir()
    (spy / "git").write_text(
        f'#!/bin/sh\nenv >> {spy}/environments\necho "$GIT_CONFIG_GLOBAL" >> {spy}/files\n'
        f'exec {shutil.which("git")} "$@"\n'
    )
    (spy / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{spy}:{os.environ['PATH']}")
    work = tmp_path / "work"
    work.mkdir()
    report = validate(git_server, work, config("ls -a ../tmp"))
    assert report.verdict == "passed", report
    assert git_server.authorized_calls() == git_server.calls
    encoded = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    environments = (spy / "environments").read_text()
    assert "GIT_CONFIG" in environments and TOKEN not in environments and encoded not in environments
    credential_files = {line for line in (spy / "files").read_text().split() if line != "/dev/null"}
    assert len(credential_files) == 1
    assert ".git-auth-" not in report.commands[0].output


def nobody() -> sandbox.SandboxUser:
    if os.geteuid() != 0:
        pytest.skip("only root can run commands as another user")
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user named nobody")
    user = sandbox.unprivileged_user("nobody")
    assert user is not None
    return user


def test_as_root_commands_run_unprivileged_in_a_folder_private_to_them(git_server: GitHttpServer):
    user = nobody()
    probe = (
        "id -u; stat -c '%u %a' ..; touch /root/codeloop-probe 2>/dev/null && echo wrote-root || echo denied"
    )
    report = run_validation(
        clone_url=git_server.clone_url("octo/calc"),
        head_sha=git_server.repository("octo/calc").commit({"calc.py": "x = 1\n"}),
        token=git_server.token,
        config=config(probe),
        is_fork=False,
        changed_paths=set(),
        user=user,
    )
    assert report.verdict == "passed", report
    assert report.commands[0].output.split() == [str(user.uid), str(user.uid), "700", "denied"]


def test_a_filled_process_table_is_emptied_before_the_next_command(git_server: GitHttpServer):
    """Processes that escaped into their own sessions until fork failed are all killed and
    reaped: the next command can fork again (the process limit holds because it is not root)."""
    user = nobody()
    fill = "i=0; while [ $i -lt 100 ]; do setsid sleep 300 </dev/null >/dev/null 2>&1 & i=$((i+1)); done"
    report = run_validation(
        clone_url=git_server.clone_url("octo/calc"),
        head_sha=git_server.repository("octo/calc").commit({"calc.py": "x = 1\n"}),
        token=git_server.token,
        config=config(fill, "sh -c 'echo forked'"),
        is_fork=False,
        changed_paths=set(),
        limits=RunLimits(total_seconds=120, command_seconds=60, sandbox=sandbox.Limits(max_processes=30)),
        user=user,
    )
    filled, next_command = report.commands
    assert "fork" in filled.output.lower() and not filled.succeeded
    assert (next_command.exit_code, next_command.output) == (0, "forked\n")


CLAIMED_RUNNER = """
import json, os, sys
from pathlib import Path
from codeloop.adapters import sandbox

work = Path(sys.argv[1])
claimed = sandbox.claim_runner_process()
# the supervisor is killed only once the daemon leads its own session: before, it is still in the
# supervisor's process group, which run() kills itself when the supervisor dies
script = (
    "setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $! > daemon.pid; "
    'until read -r _ _ _ _ _ session _ < /proc/$!/stat && [ "$session" = $! ]; do sleep 0.01; done; '
    "kill -9 $PPID"
)
sandbox.run(["/bin/sh", "-c", script], cwd=work, env=sandbox.sandbox_environment(work, work), timeout_seconds=30)
daemon = int((work / "daemon.pid").read_text())
state = Path(f"/proc/{daemon}/stat").read_text().rsplit(")", 1)[1].split()[0]
survived_its_supervisor = state not in ("Z", "X")  # a zombie was killed already
killed = sandbox.kill_strays()
print(json.dumps([claimed, survived_its_supervisor, daemon in killed, Path(f"/proc/{daemon}").exists()]))
"""


def test_a_runner_process_kills_what_escaped_a_killed_supervisor(tmp_path: Path):
    """A command of the runner's own user can kill its supervisor; in a process that runs only
    validations (the Lambda, the local runner process) its orphans still reparent to the runner,
    which kills them before the next checkout."""
    done = subprocess.run(
        [sys.executable, "-c", CLAIMED_RUNNER, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == [True, True, True, False]
