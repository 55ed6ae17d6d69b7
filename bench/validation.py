"""bench/validation: the validation runner's own costs, excluding the repository's commands.

- clone: shallow fetch of one commit of a 1,000-file repository over smart HTTP on loopback
  (``git http-backend`` behind the test fake), token in a private git configuration file, then
  checkout;
- supervisor: one trivial command under its supervisor (the child subreaper that kills and reaps
  whatever the command left), against the same command run bare;
- working directory: create the fresh sandbox directories and environment, and remove a
  1,000-file checkout afterwards;
- toolchain: the validation's own virtual environment (pip from the bundled ensurepip wheel),
  against ``python -m venv`` installing pip with ensurepip;
- results: parse a 5,000-test JUnit file (10% failing, with tracebacks) and build the report
  (annotations, failure signature); and the same from a 5,000-assertion TAP output (tape's
  shape, 10% failing) read by every output parser, as when a run leaves no JUnit file;
- deploy stage: the fixture web app (tests/fixtures/webapp) started by ``validation.deploy``,
  ``ready`` polled, three HTTP checks, then everything stopped and reaped; against the same app
  started bare, polled every 5 ms, the same three requests made, then killed. The difference is
  the runner's own overhead (aim: <= 1 s).

Aim: <= 2 s in all on loopback. Run: .venv/bin/python bench/validation.py [repeats]
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codeloop.adapters import git_checkout, sandbox, toolchain
from codeloop.domain.repo_config import ValidationConfig
from codeloop.domain.test_results import parse_junit_chunks, parse_test_output
from codeloop.domain.validation import CommandResult, build_report
from codeloop.services.validation.deploy import DeployStage, request
from codeloop.services.validation.run import READ_CHUNK, SandboxDirs, remove_tree
from codeloop.settings import reset_settings
from tests.fakes.git_http import GitHttpServer

WEBAPP = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "webapp" / "app.py"
TOKEN = "ghs_" + secrets.token_hex(16)  # a fresh fake token per run
FILES = 1_000
TESTS = 5_000


def repository_files() -> dict[str, str]:
    files = {}
    for index in range(FILES):
        package = f"pkg{index % 20:02d}"
        files[f"src/{package}/module_{index:04d}.py"] = f'"""Module {index}."""\n\n' + (
            f"def value_{index}():\n    return {index}\n" * 20
        )
    return files


def junit_document(failing_every: int = 10) -> bytes:
    cases = []
    for index in range(TESTS):
        package = f"pkg{index % 20:02d}"
        name = f"test_case_{index:05d}"
        if index % failing_every:
            cases.append(f'<testcase classname="tests.{package}.test_mod" name="{name}" time="0.001"/>')
            continue
        trace = (
            f"def {name}():\n>       assert value({index}) == {index + 1}\nE       assert {index} == {index + 1}\n\n"
            f"src/{package}/module_{index % FILES:04d}.py:{index % 40 + 1}: AssertionError"
        )
        cases.append(
            f'<testcase classname="tests.{package}.test_mod" name="{name}" time="0.002">'
            f"<failure message={quoteattr(f'assert {index} == {index + 1}')}>{escape(trace)}</failure></testcase>"
        )
    body = "".join(cases)
    return (
        f'<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="{TESTS}">'
        f"{body}</testsuite></testsuites>"
    ).encode()


def tap_output(checkout: str, failing_every: int = 10) -> str:
    lines = ["TAP version 13"]
    for index in range(TESTS):
        if index % 100 == 0:
            lines.append(f"# module {index // 100}")
        if index % failing_every:
            lines.append(f"ok {index + 1} should be strictly equal")
            continue
        test_file = f"{checkout}/test/module_{index // 100:02d}.js"
        lines += [
            f"not ok {index + 1} value {index}",
            "  ---",
            "    operator: equal",
            f"    expected: {index + 1}",
            f"    actual:   {index}",
            f"    at: Test.<anonymous> ({test_file}:{index % 40 + 1}:5)",
            "    stack: |-",
            f"      Error: value {index}",
            f"          at Test.assert [as _assert] ({checkout}/node_modules/tape/lib/test.js:548:48)",
            f"          at Test.<anonymous> ({test_file}:{index % 40 + 1}:5)",
            f"          at Test.run ({checkout}/node_modules/tape/lib/test.js:151:28)",
            "  ...",
        ]
    lines += [f"1..{TESTS}", f"# tests {TESTS}", f"# fail {TESTS // failing_every}"]
    return "\n".join(lines) + "\n"


def failed_tests(output: str = "") -> CommandResult:
    return CommandResult(
        phase="test",
        command="npm test",
        exit_code=1,
        duration_seconds=1.0,
        output=output,
        output_bytes=len(output),
    )


def timed(label: str, repeats: int, action: Callable[[], object]) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    median = statistics.median(samples)
    print(f"{label:<58} median {median * 1000:8.1f} ms   min {min(samples) * 1000:8.1f} ms   (n={repeats})")
    return median


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with tempfile.TemporaryDirectory(prefix="codeloop-bench-validation-") as scratch:
        root = Path(scratch)
        with GitHttpServer(root / "served", token=TOKEN) as server:
            os.environ["GITHUB_API_URL"] = server.url
            reset_settings()
            sha = server.repository("bench/big").commit(repository_files())
            work = root / "work"
            work.mkdir()
            checkouts: list[SandboxDirs] = []

            def clone() -> None:
                dirs = SandboxDirs.create(work)
                checkout = git_checkout.checkout(
                    server.clone_url("bench/big"),
                    sha,
                    TOKEN,
                    dirs.checkout,
                    home=dirs.home,
                    tmp=dirs.tmp,
                    timeout_seconds=60,
                )
                assert len(checkout.files) == FILES
                checkouts.append(dirs)

            def prepare() -> None:
                dirs = SandboxDirs.create(work)
                sandbox.sandbox_environment(dirs.home, dirs.tmp)
                remove_tree(dirs.root)

            def own_toolchain() -> None:
                dirs = SandboxDirs.create(work)
                toolchain.create(dirs.root / "toolchain")
                remove_tree(dirs.root)

            def venv_with_ensurepip() -> None:
                dirs = SandboxDirs.create(work)
                subprocess.run([sys.executable, "-m", "venv", str(dirs.root / "venv")], check=True)
                remove_tree(dirs.root)

            def clean_up() -> None:
                remove_tree(checkouts.pop().root)

            def supervised_command() -> None:
                sandbox.run(
                    ["true"], cwd=root, env=sandbox.sandbox_environment(root, root), timeout_seconds=10
                )

            def bare_command() -> None:
                subprocess.run(["true"], cwd=root, env=sandbox.sandbox_environment(root, root), check=True)

            junit_path = root / "report.xml"
            junit_path.write_bytes(junit_document())
            repo_files = [f"src/pkg{i % 20:02d}/module_{i:04d}.py" for i in range(FILES)]

            def parse_and_report() -> None:
                with junit_path.open("rb") as handle:
                    failures = parse_junit_chunks(iter(lambda: handle.read(READ_CHUNK), b""))
                report = build_report(
                    head_sha=sha,
                    commands=[failed_tests()],
                    failures=failures,
                    results_source="junit",
                    changed_paths=set(repo_files[:100]),
                    repo_files=repo_files,
                    checkout_root=checkout_root,
                )
                assert report.failures_total == TESTS // 10 and report.failure_signature

            checkout_root = str(root / "checkout")
            tap = tap_output(checkout_root)
            js_files = [f"test/module_{n:02d}.js" for n in range(TESTS // 100)]

            def parse_output_and_report() -> None:
                command = failed_tests(tap)
                report = build_report(
                    head_sha=sha,
                    commands=[command],
                    failures=parse_test_output(command.output),
                    results_source="output",
                    changed_paths=set(),
                    repo_files=js_files,
                    checkout_root=checkout_root,
                )
                assert (
                    report.failures_total == TESTS // 10 and report.annotations[0].path == "test/module_00.js"
                )

            print(f"repository: {FILES} files; JUnit: {TESTS} tests, {junit_path.stat().st_size // 1024} KiB")
            total = timed(f"clone {FILES}-file repository at one commit (loopback)", repeats, clone)
            total += timed("create the working directory and environment", repeats, prepare)
            total += timed(f"remove a {FILES}-file checkout", repeats, clean_up)
            total += timed("create and remove the validation's own toolchain", repeats, own_toolchain)
            timed("  for comparison: python -m venv with ensurepip", 1, venv_with_ensurepip)
            supervised = timed("one command under its supervisor (`true`)", repeats * 4, supervised_command)
            bare = timed("the same command run bare (subprocess.run)", repeats * 4, bare_command)
            print(
                f"{'  the sandbox and its supervisor add, per command':<58} {(supervised - bare) * 1000:15.1f} ms"
            )
            total += supervised
            total += timed(f"parse {TESTS}-test JUnit + build report", repeats, parse_and_report)
            total += timed(
                f"parse {TESTS}-assertion TAP output + build report", repeats, parse_output_and_report
            )
            print(f"{'total (medians)':<58} {total * 1000:15.1f} ms   aim <= 2000 ms")
    deploy_stage_figures(repeats)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def deploy_stage_figures(repeats: int) -> None:
    """A deploy + a ready URL + three checks through the stage, against the same work done bare."""
    with tempfile.TemporaryDirectory(prefix="codeloop-bench-deploy-") as scratch:
        root = Path(scratch)
        shutil.copy(WEBAPP, root / "app.py")
        env = sandbox.sandbox_environment(root, root)

        def staged() -> None:
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            validation = ValidationConfig.model_validate(
                {
                    "deploy": [f"{sys.executable} app.py --port {port}"],
                    "ready": {"url": f"{base}/health", "timeout_seconds": 30},
                    "checks": [
                        {"name": "health", "url": f"{base}/health", "contains": "ok"},
                        {"name": "mean", "url": f"{base}/api/mean?xs=1,2,3", "contains": "2.0"},
                        {"name": "missing", "url": f"{base}/nope", "status": 404},
                    ],
                }
            )
            stage = DeployStage(
                validation,
                checkout=root,
                env=env,
                limits=sandbox.Limits(),
                user=None,
                deadline=time.monotonic() + 60,
            )
            with stage:
                assert stage.ready and all(check.passed for check in stage.checks), stage.checks

        def bare() -> None:
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            app = subprocess.Popen(
                [sys.executable, "app.py", "--port", str(port)],
                cwd=root,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                while True:
                    try:
                        request("GET", f"{base}/health", 1.0)
                        break
                    except OSError:
                        time.sleep(0.005)
                for path in ("/health", "/api/mean?xs=1,2,3", "/nope"):
                    request("GET", base + path, 10.0)
            finally:
                app.kill()
                app.wait()

        stage_time = timed("deploy + ready + 3 checks through the stage, stopped", repeats, staged)
        bare_time = timed("the same app, 5 ms polls, 3 requests, killed (bare)", repeats, bare)
        print(f"{'  the deploy stage adds':<58} {(stage_time - bare_time) * 1000:15.1f} ms   aim <= 1000 ms")


if __name__ == "__main__":
    main()
