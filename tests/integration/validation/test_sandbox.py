"""Running commands with limits: real processes, real process groups."""

from __future__ import annotations

import os
import shlex
import signal
import sys
from pathlib import Path

import pytest

from codeloop.adapters import sandbox

FAKE_SECRETS = {
    "AWS_ACCESS_KEY_ID": "AKIAFAKEFAKEFAKE1234",
    "AWS_SECRET_ACCESS_KEY": "fake-aws-secret-value-0001",
    "AWS_SESSION_TOKEN": "fake-aws-session-token-0002",
    "DATABASE_URL": "postgresql://codeloop:fake-db-password-0003@db:5432/codeloop",
    "GITHUB_APP_PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----fake-pem-0004",
    "GITHUB_WEBHOOK_SECRET": "fake-webhook-secret-0005",
    "CODEGEN_API_KEY": "fake-codegen-key-0006",
    "GITHUB_TOKEN": "ghs_fake-github-token-0007",
    "OPENAI_API_KEY": "sk-fake-openai-0008",
}


def run(tmp_path: Path, script: str, timeout: float = 30, **limits) -> sandbox.CommandRun:
    env = sandbox.sandbox_environment(tmp_path, tmp_path)
    return sandbox.run(
        ["/bin/sh", "-c", script],
        cwd=tmp_path,
        env=env,
        timeout_seconds=timeout,
        limits=sandbox.Limits(**limits),
    )


def alive_in_group(pgid: int) -> list[int]:
    """Processes of a process group that are still running (zombies, already dead, excluded)."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state not in ("Z", "X"):
            alive.append(int(entry.name))
    return alive


def test_exit_code_and_interleaved_output(tmp_path: Path):
    result = run(tmp_path, "echo out; echo err >&2; exit 3")
    assert (result.exit_code, result.signal, result.timed_out) == (3, None, False)
    assert result.output == "out\nerr\n"


def test_environment_is_an_allow_list_no_secret_reaches_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    for name, value in FAKE_SECRETS.items():
        monkeypatch.setenv(name, value)
    result = run(tmp_path, "env; cat /proc/self/environ | tr '\\0' '\\n'")
    assert result.exit_code == 0
    for name, value in FAKE_SECRETS.items():
        assert name not in result.output
        assert value not in result.output
    printed = dict(line.split("=", 1) for line in result.output.splitlines() if "=" in line)
    assert printed["CI"] == "true"
    assert printed["HOME"] == str(tmp_path)
    assert printed["PATH"] == os.environ["PATH"]


def test_a_hanging_command_is_killed_at_the_limit_with_its_whole_group(tmp_path: Path):
    result = run(tmp_path, "echo $$ > shell.pid; sleep 300 & echo $! > child.pid; sleep 300", timeout=1)
    assert result.timed_out is True and result.exit_code is None
    group = int((tmp_path / "shell.pid").read_text())
    child = int((tmp_path / "child.pid").read_text())
    assert alive_in_group(group) == []
    assert child not in alive_in_group(group)


def test_background_processes_left_by_a_finished_command_are_killed(tmp_path: Path):
    result = run(tmp_path, "echo $$ > shell.pid; sleep 300 & echo started")
    assert (result.exit_code, result.output) == (0, "started\n")
    assert alive_in_group(int((tmp_path / "shell.pid").read_text())) == []


def test_a_command_that_closes_its_output_and_hangs_still_times_out(tmp_path: Path):
    result = run(tmp_path, "exec >/dev/null 2>&1; sleep 300", timeout=1)
    assert result.timed_out is True


def test_an_output_flood_is_capped_keeping_head_and_tail(tmp_path: Path):
    script = "echo FIRST-LINE; head -c 100000000 /dev/zero | tr '\\0' x; echo; echo LAST-LINE"
    result = run(tmp_path, script, output_head_bytes=1024, output_tail_bytes=4096)
    assert result.exit_code == 0
    assert result.output_bytes == len("FIRST-LINE\n") + 100_000_000 + 1 + len("LAST-LINE\n")
    assert result.output.startswith("FIRST-LINE\n")
    assert result.output.endswith("LAST-LINE\n")
    assert result.output_cut_bytes == result.output_bytes - 1024 - 4096
    assert (
        f"[{result.output_cut_bytes} bytes of output cut; {result.output_bytes} bytes in all]"
        in result.output
    )
    assert len(result.output) < 1024 + 4096 + 200


def test_output_capture_keeps_a_bounded_buffer():
    capture = sandbox.OutputCapture(head=100, tail=1000)
    for index in range(10_000):
        capture.feed(f"{index:08d}\n".encode() * 100)
    assert capture.total == 10_000 * 900
    assert capture.text().startswith("00000000\n")
    assert capture.text().endswith("00009999\n" * 3)
    assert len(capture.text()) < 100 + 1000 + 100


def test_resource_limits_are_set_in_the_child(tmp_path: Path):
    names = ("RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_CORE", "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_FSIZE")
    probe = f"import resource as r; print(*[r.getrlimit(getattr(r, n))[0] for n in {names!r}])"
    result = run(
        tmp_path,
        f"{sys.executable} -c {shlex.quote(probe)}",
        cpu_seconds=7,
        memory_bytes=512 * 1024**2,
        max_processes=300,
        max_open_files=256,
        max_file_bytes=1024**3,
    )
    assert result.output.split() == ["7", str(512 * 1024**2), "0", "300", "256", str(1024**3)]


def test_memory_limit_stops_a_runaway_allocation(tmp_path: Path):
    script = f"{sys.executable} -c 'x = bytearray(600 * 1024 * 1024); print(len(x))'"
    result = run(tmp_path, script, memory_bytes=256 * 1024**2)
    assert result.exit_code not in (0, None)
    assert "MemoryError" in result.output


def test_cpu_limit_ends_a_busy_loop_with_sigxcpu(tmp_path: Path):
    result = run(tmp_path, "exec sh -c 'while :; do :; done'", timeout=30, cpu_seconds=1)
    assert result.signal in (signal.SIGXCPU, signal.SIGKILL)
    assert result.timed_out is False
