"""The deploy stage: a real web app (tests/fixtures/webapp, standard library only) started by
``validation.deploy`` in the sandbox, polled until ready, checked over HTTP, then stopped."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

from codeloop.adapters import reaper
from codeloop.domain.repo_config import RepoConfig
from codeloop.domain.validation import ValidationReport
from codeloop.services.validation.run import RunLimits, SandboxDirs, remove_tree, validate_checkout

APP = Path(__file__).resolve().parents[2] / "fixtures" / "webapp" / "app.py"
PLANTED_BUG = ("return sum(xs) / len(xs)", "return sum(xs) / (len(xs) + 1)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def webapp_config(port: int, *, test: list[str] | None = None, **validation) -> RepoConfig:
    base = f"http://127.0.0.1:{port}"
    return RepoConfig.model_validate(
        {
            "validation": {
                "deploy": [f"{sys.executable} app.py --port {port}"],
                "ready": {"url": f"{base}/health", "timeout_seconds": 20},
                "checks": [
                    {"name": "health", "url": f"{base}/health", "status": 200, "contains": "ok"},
                    {
                        "name": "mean",
                        "url": f"{base}/api/mean?xs=1,2,3",
                        "contains": "2.0",
                        "timeout_seconds": 5,
                    },
                ],
                "test": test if test is not None else [],
                **validation,
            }
        }
    )


def run_deployed(tmp_path: Path, config: RepoConfig, *, bug: bool = False) -> ValidationReport:
    dirs = SandboxDirs.create(tmp_path)
    dirs.checkout.mkdir()
    source = APP.read_text()
    (dirs.checkout / "app.py").write_text(source.replace(*PLANTED_BUG) if bug else source)
    limits = RunLimits(total_seconds=60, command_seconds=60)
    try:
        return validate_checkout(
            dirs,
            head_sha="a" * 40,
            repo_files={"app.py"},
            config=config,
            changed_paths={"app.py"},
            limits=limits,
            deadline=time.monotonic() + limits.total_seconds,
        )
    finally:
        remove_tree(dirs.root)


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_the_app_deploys_becomes_ready_passes_its_checks_and_the_tests_run_against_it(tmp_path):
    port = free_port()
    probe = f"{sys.executable} -c \"import urllib.request as u; print(u.urlopen('http://127.0.0.1:{port}/health').read())\""
    report = run_deployed(tmp_path, webapp_config(port, test=[probe]))
    assert report.verdict == "passed", report
    assert report.summary == "Passed: 1 test command succeeded, 2 checks passed"
    assert [(c.name, c.status, c.passed) for c in report.checks] == [
        ("health", 200, True),
        ("mean", 200, True),
    ]
    assert report.checks[1].body == '{"mean": 2.0}'
    assert all(c.duration_seconds > 0 for c in report.checks)
    assert "b'ok'" in report.commands[-1].output  # the tests ran while the app was up
    deployment = report.deployment
    assert deployment is not None and deployment.ready and deployment.ready_seconds is not None
    assert deployment.urls == [f"http://127.0.0.1:{port}"]
    [process] = deployment.processes
    assert process.ended == "stopped at the end of the validation"
    assert f"serving on http://127.0.0.1:{port}" in process.output
    assert "GET /api/mean?xs=1,2,3" in process.output  # the app's request log, captured
    assert not listening(port)  # stopped with everything else


def test_a_planted_bug_fails_the_check_with_a_clear_report_and_its_own_signature(tmp_path):
    port = free_port()
    report = run_deployed(tmp_path, webapp_config(port), bug=True)
    assert report.verdict == "failed"
    assert report.summary == "Checks failed: mean"
    health, mean = report.checks
    assert health.passed
    assert (mean.passed, mean.status, mean.body) == (False, 200, '{"mean": 1.5}')
    assert mean.problem == "the body does not contain '2.0'"
    assert report.failure_signature is not None
    again = run_deployed(tmp_path, webapp_config(port), bug=True)
    assert again.failure_signature == report.failure_signature  # the same failure again
    fixed_differently = run_deployed(
        tmp_path,
        webapp_config(
            port,
            checks=[{"name": "mean", "url": f"http://127.0.0.1:{port}/api/mean?xs=4", "contains": "2.0"}],
        ),
    )
    assert fixed_differently.verdict == "failed"
    assert fixed_differently.failure_signature != report.failure_signature  # another body, another failure


def test_an_app_that_never_gets_ready_fails_with_its_last_output_and_skips_checks_and_tests(tmp_path):
    port = free_port()
    config = webapp_config(
        port,
        test=["echo tests ran"],
        deploy=[f"echo booting; sleep 30 # port {port}"],
        ready={"url": f"http://127.0.0.1:{port}/health", "timeout_seconds": 1},
    )
    report = run_deployed(tmp_path, config)
    assert report.verdict == "failed"
    assert report.summary.startswith("Deploy failed: not ready after 1 s (last try: connection refused")
    assert report.checks == [] and report.commands == []
    assert report.deployment is not None and not report.deployment.ready
    assert "booting" in report.deployment.output
    assert report.deployment.processes[0].ended == "stopped at the end of the validation"
    assert report.failure_signature is not None


def test_a_deploy_command_that_dies_fails_at_once_with_its_error(tmp_path):
    port = free_port()
    config = webapp_config(port, deploy=["echo 'Error: no module named flask' >&2; exit 3"])
    report = run_deployed(tmp_path, config)
    assert report.verdict == "failed"
    assert report.summary.startswith("Deploy failed: the deploy commands ended before the app was ready")
    [process] = report.deployment.processes
    assert process.ended == "ended by itself before the end, with status 3"
    assert "no module named flask" in process.output


def test_a_ready_command_is_polled_until_it_succeeds(tmp_path):
    port = free_port()
    config = webapp_config(
        port,
        ready={
            "command": f"{sys.executable} -c \"import socket; socket.create_connection(('127.0.0.1', {port}))\"",
            "timeout_seconds": 20,
        },
    )
    report = run_deployed(tmp_path, config)
    assert report.verdict == "passed", report
    assert report.deployment.urls == [f"http://127.0.0.1:{port}"]


def test_a_daemonised_server_is_held_until_the_end_and_then_killed(tmp_path):
    port = free_port()
    marker = tmp_path / "daemon-pid"
    daemon = f"(setsid {sys.executable} app.py --port {port} & echo $! > {marker}) ; exit 0"
    report = run_deployed(tmp_path, webapp_config(port, deploy=[daemon]))
    assert report.verdict == "passed", report
    assert report.deployment.processes[0].ended == "ended by itself before the end, with status 0"
    pid = int(marker.read_text())
    assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid)
    assert not listening(port)


def _is_zombie(pid: int) -> bool:
    with open(f"/proc/{pid}/stat", "rb") as handle:
        return handle.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X")


def test_no_process_of_the_deployment_is_left_behind(tmp_path):
    before = reaper.descendants(os.getpid())
    run_deployed(tmp_path, webapp_config(free_port()))
    assert reaper.descendants(os.getpid()) <= before
