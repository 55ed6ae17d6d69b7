"""`codeloop dev` (what `make dev` runs) starts, serves /health with the database up, and stops on
Ctrl-C: the terminal sends it to every process of the stack, and only the stack acts on it."""

import os
import signal
import socket
import subprocess
import sys
import time

import httpx

from tests.fakes.slack_api import SIGNING_SECRET, command_body, signed_headers


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_stack(env: dict[str, str], cwd) -> subprocess.Popen:
    """`codeloop dev` in a process group of its own, as in a terminal; its output in one stream."""
    return subprocess.Popen(
        [sys.executable, "-m", "codeloop.cli", "dev"],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def test_dev_stack_serves_health_and_stops_cleanly(db_url, tmp_path):
    port = _free_port()
    env = os.environ | {
        "CODELOOP_PORT": str(port),
        "DATABASE_URL": db_url,
        "LINEAR_WEBHOOK_SECRET": "dev",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
    }
    proc = start_stack(env, tmp_path)
    try:
        deadline = time.monotonic() + 60
        health = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert health is not None, (
            f"the stack did not come up: {proc.stdout.read() if proc.poll() is not None else ''}"
        )
        assert health.status_code == 200
        body = health.json()
        assert body["status"] == "ok"
        assert body["database"]["reachable"] is True
        assert body["database"]["migrations_current"] is True
        # Slack's slash command is served too: a signed `help` is answered, an unsigned one refused.
        help_body = command_body("help", user_id="U1", response_url="https://hooks.slack.com/commands/T1/1/x")
        slack = f"http://127.0.0.1:{port}/webhooks/slack/commands"
        answer = httpx.post(slack, content=help_body, headers=signed_headers(help_body), timeout=10)
        assert answer.status_code == 200 and answer.json()["response_type"] == "ephemeral"
        assert httpx.post(slack, content=help_body, timeout=10).status_code == 401
        # Linear's route is served too, and checks signatures there as on AWS.
        forged = httpx.post(
            f"http://127.0.0.1:{port}/webhooks/linear", content=b"{}", headers={"linear-signature": "0" * 64}
        )
        assert forged.status_code == 401
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole group, workers perhaps still importing
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "Traceback" not in output and "KeyboardInterrupt" not in output
    assert f"http://127.0.0.1:{port}/health" in output
    assert f"http://127.0.0.1:{port}/webhooks/slack/commands" in output
    assert f"POST http://127.0.0.1:{port}/webhooks/linear" in output
    assert "stopped" in output
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # the stack's own processes are gone too
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("processes of the stack outlived it")


def test_ctrl_c_while_the_stack_starts_stops_it_without_a_traceback(db_url, tmp_path):
    """Ctrl-C as its processes start (each one importing): the stack stops them, none dies noisily."""
    proc = start_stack(os.environ | {"CODELOOP_PORT": str(_free_port()), "DATABASE_URL": db_url}, tmp_path)
    lines = []
    for line in proc.stdout:  # the emulation is up; the functions' processes are being started
        lines.append(line)
        if "AWS " in line:
            break
    os.killpg(proc.pid, signal.SIGINT)
    output = "".join(lines) + proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, output
    assert "stopped" in output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output


def test_as_root_the_stack_runs_commands_as_nobody_or_says_loudly_it_cannot(monkeypatch):
    import pytest

    from codeloop.local.stack import command_user_note

    if os.geteuid() != 0:
        pytest.skip("only root changes the user commands run as")
    monkeypatch.setenv("VALIDATION_USER", "")  # restored (unset) after the test
    monkeypatch.delenv("VALIDATION_USER")
    assert command_user_note().startswith("validation commands run as nobody (uid 65534)")
    assert os.environ["VALIDATION_USER"] == "nobody"
    monkeypatch.setenv("VALIDATION_USER", "no-such-user-here")
    warning = command_user_note()
    assert warning.startswith("WARNING: running as root and no user named 'no-such-user-here'")
    assert "AS ROOT" in warning and "VALIDATION_USER" not in os.environ


def test_not_as_root_the_stack_says_loudly_that_commands_can_read_its_secrets(monkeypatch):
    """Commands of the stack's own user can read its .env and its processes' environments: no
    sandbox of ours holds there, so the stack must not let it pass for one."""
    from codeloop.local.stack import command_user_note

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    warning = command_user_note()
    assert warning.startswith("WARNING: validation commands run as this user (uid 1000)")
    assert ".env" in warning and "App key" in warning and "as root" in warning
