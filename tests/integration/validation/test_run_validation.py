"""The whole validation: real git over HTTP, real commands, real result files."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from codeloop.domain.repo_config import RepoConfig, parse_repo_config
from codeloop.services.validation.run import RunLimits, run_validation
from tests.fakes.git_http import GitHttpServer
from tests.integration.validation.conftest import TOKEN
from tests.integration.validation.test_sandbox import FAKE_SECRETS

PYTHON = sys.executable
CALC = "def divide(a, b):\n    return a / b\n\n\ndef add(a, b):\n    return a + b\n"
PASSING_TESTS = "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"
FAILING_TESTS = (
    "from calc import add, divide\n\n\n"
    "def test_add():\n    assert add(1, 2) == 4\n\n\n"
    "def test_divide():\n    assert divide(1, 0) == 0\n"
)
PYTEST = f"{PYTHON} -m pytest -q -p no:cacheprovider"


def config(test: list[str], setup: list[str] | None = None, **validation) -> RepoConfig:
    return RepoConfig.model_validate({"validation": {"test": test, "setup": setup or [], **validation}})


def validate(server: GitHttpServer, work: Path, files: dict[str, str], cfg: RepoConfig | None, **options):
    sha = server.repository("octo/calc").commit({"calc.py": CALC, **files})
    options.setdefault("is_fork", False)
    options.setdefault("changed_paths", {"calc.py"})
    work.mkdir(exist_ok=True)
    report = run_validation(
        clone_url=server.clone_url("octo/calc"),
        head_sha=sha,
        token=TOKEN,
        config=cfg,
        work_root=work,
        **options,
    )
    return sha, report


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return tmp_path / "work"


def test_a_passing_suite_passes_and_leaves_nothing_behind(git_server, work: Path):
    sha, report = validate(
        git_server, work, {"tests/test_calc.py": PASSING_TESTS}, config([f"{PYTEST} --junitxml=report.xml"])
    )
    assert report.verdict == "passed", report
    assert report.head_sha == sha
    assert [c.phase for c in report.commands] == ["test"]
    assert report.results_source == "junit"
    assert report.failures == [] and report.annotations == [] and report.failure_signature is None
    assert list(work.iterdir()) == []


def test_a_failing_suite_with_junit_annotates_the_tests_and_the_changed_file_that_raised(
    git_server, work: Path
):
    _, report = validate(
        git_server,
        work,
        {"tests/test_calc.py": FAILING_TESTS},
        config([f"{PYTEST} --junitxml=build/report.xml"], junit=["build/report.xml"]),
    )
    assert report.verdict == "failed"
    assert report.results_source == "junit"
    assert report.summary == "Tests failed: 2 failing tests"
    assert [f.test_id for f in report.failures] == [
        "tests.test_calc::test_add",
        "tests.test_calc::test_divide",
    ]
    assert [(a.path, a.start_line, a.title) for a in report.annotations] == [
        ("tests/test_calc.py", 5, "tests.test_calc::test_add failed"),
        ("tests/test_calc.py", 9, "tests.test_calc::test_divide failed"),
        ("calc.py", 2, "tests.test_calc::test_divide failed here"),  # raised in the PR's changed file
    ]
    assert "ZeroDivisionError" in report.annotations[2].message
    assert report.failure_signature and len(report.failure_signature) == 64
    assert list(work.iterdir()) == []


def test_the_same_failure_twice_has_the_same_signature(git_server, work: Path):
    cfg = config([f"{PYTEST} --junitxml=report.xml"])
    _, first = validate(git_server, work, {"tests/test_calc.py": FAILING_TESTS}, cfg)
    _, second = validate(git_server, work, {"tests/test_calc.py": FAILING_TESTS, "other.txt": "x"}, cfg)
    fixed_one = FAILING_TESTS.replace("== 4", "== 3")
    _, third = validate(git_server, work, {"tests/test_calc.py": fixed_one}, cfg)
    assert first.failure_signature == second.failure_signature
    assert third.failure_signature != first.failure_signature
    assert [f.name for f in third.failures] == ["test_divide"]


def test_without_junit_the_summary_lines_are_parsed(git_server, work: Path):
    _, report = validate(git_server, work, {"tests/test_calc.py": FAILING_TESTS}, config([PYTEST]))
    assert report.verdict == "failed"
    assert report.results_source == "output"
    assert [f.test_id for f in report.failures] == [
        "tests/test_calc.py::test_add",
        "tests/test_calc.py::test_divide",
    ]
    assert [(a.path, a.start_line) for a in report.annotations] == [
        ("tests/test_calc.py", 5),
        ("tests/test_calc.py", 9),
        ("calc.py", 2),
    ]


def test_unittest_output_is_parsed_too(git_server, work: Path):
    tests = (
        "import unittest\n\nfrom calc import add\n\n\n"
        "class TestCalc(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(add(1, 2), 4)\n"
    )
    _, report = validate(git_server, work, {"test_calc.py": tests}, config([f"{PYTHON} -m unittest -v"]))
    assert report.verdict == "failed" and report.results_source == "output"
    assert [(a.path, a.start_line, a.message) for a in report.annotations] == [
        ("test_calc.py", 8, "AssertionError: 3 != 4")
    ]


def test_a_stale_junit_file_committed_in_the_repository_is_ignored(git_server, work: Path):
    stale = (Path(__file__).parents[2] / "unit/validation/samples/pytest-xunit1.xml").read_text()
    _, report = validate(
        git_server, work, {"tests/test_calc.py": PASSING_TESTS, "report.xml": stale}, config([PYTEST])
    )
    assert report.verdict == "passed" and report.failures == [] and report.results_source == "none"


def test_a_junit_symlink_out_of_the_checkout_is_not_followed(git_server, work: Path, tmp_path: Path):
    secret = tmp_path / "outside.xml"
    secret.write_text('<testsuite><testcase name="leak"><failure message="outside"/></testcase></testsuite>')
    cfg = config([f"ln -s {secret} report.xml && exit 1"])
    _, report = validate(git_server, work, {}, cfg)
    assert report.verdict == "failed"
    assert all(f.name != "leak" for f in report.failures)


def test_an_unparseable_junit_file_is_noted_and_the_output_used_instead(git_server, work: Path):
    cfg = config([f"{PYTEST} ; status=$? ; echo '<testsuite><oops' > report.xml ; exit $status"])
    _, report = validate(git_server, work, {"tests/test_calc.py": FAILING_TESTS}, cfg)
    assert report.results_source == "output"
    assert len(report.failures) == 2
    assert report.notes and report.notes[0].startswith("report.xml: not well-formed JUnit XML")


def test_a_failing_setup_stops_before_the_tests(git_server, work: Path):
    cfg = config(["echo tests-ran"], setup=["echo preparing", "exit 7", "echo never"])
    _, report = validate(git_server, work, {}, cfg)
    assert report.verdict == "failed"
    assert report.summary == "Setup failed: `exit 7` exited with 7"
    assert [(c.phase, c.command) for c in report.commands] == [
        ("setup", "echo preparing"),
        ("setup", "exit 7"),
    ]
    assert report.failure_signature is not None


def test_setup_runs_in_the_checkout_before_the_tests(git_server, work: Path):
    cfg = config(["test -f prepared && test -f calc.py"], setup=["touch prepared"])
    _, report = validate(git_server, work, {}, cfg)
    assert report.verdict == "passed", report.commands


def test_a_hanging_test_command_is_killed_and_reported(git_server, work: Path):
    cfg = config(["echo started; sleep 300", "echo second"])
    limits = RunLimits(total_seconds=60, command_seconds=1)
    _, report = validate(git_server, work, {}, cfg, limits=limits)
    assert report.verdict == "failed"
    first, second = report.commands
    assert first.timed_out and first.exit_code is None and first.output == "started\n"
    assert second.succeeded  # the per-command limit leaves the rest of the suite to run
    assert "hit its time limit" in report.summary
    assert list(work.iterdir()) == []


def test_a_hanging_command_whose_junit_file_is_cut_inside_a_case_names_that_test(git_server, work: Path):
    cut = '<testsuite name="io"><testcase classname="tests.test_io" name="test_upload">'
    cfg = config([f"printf '%s' '{cut}' > report.xml; sleep 300"])
    _, report = validate(git_server, work, {}, cfg, limits=RunLimits(total_seconds=60, command_seconds=1))
    assert report.verdict == "failed"
    assert report.commands[0].junit_open_test == "tests.test_io::test_upload"
    assert report.summary.endswith("hit its time limit after 1 s, while running tests.test_io::test_upload")
    assert "ends inside test tests.test_io::test_upload" in report.notes[0]


def test_when_the_total_time_is_spent_the_remaining_commands_do_not_start(git_server, work: Path):
    cfg = config(["sleep 300", "echo never"])
    _, report = validate(git_server, work, {}, cfg, limits=RunLimits(total_seconds=3, command_seconds=60))
    assert report.verdict == "failed"
    assert [c.timed_out for c in report.commands] == [True, True]
    assert report.commands[1].output.startswith("not started")


def test_an_output_flood_is_capped_and_nothing_breaks(git_server, work: Path):
    cfg = config(["head -c 100000000 /dev/zero | tr '\\0' y; echo; echo all-done"])
    _, report = validate(git_server, work, {}, cfg)
    assert report.verdict == "passed"
    [command] = report.commands
    assert command.output_bytes == 100_000_000 + 1 + len("all-done\n")
    assert command.output_cut_bytes > 99_000_000
    assert command.output.endswith("all-done\n")


def test_no_secret_reaches_the_commands(git_server, work: Path, monkeypatch: pytest.MonkeyPatch):
    for name, value in FAKE_SECRETS.items():
        monkeypatch.setenv(name, value)
    cfg = config(["env", "cat .git/config; ls -a .git"], setup=["env"])
    _, report = validate(git_server, work, {}, cfg)
    assert report.verdict == "passed"
    printed = "\n".join(c.output for c in report.commands)
    assert "CI=true" in printed
    for secret in [TOKEN, *FAKE_SECRETS.values()]:
        assert secret not in printed
    assert "GIT_CONFIG" not in printed and "x-access-token" not in printed


@pytest.mark.parametrize("text", [None, "", "iterations: 2\n", "validation:\n  setup: [make deps]\n"])
def test_a_missing_or_empty_configuration_is_not_configured(git_server, work: Path, text: str | None):
    cfg = None if text is None else parse_repo_config(text)
    _, report = validate(git_server, work, {}, cfg)
    assert (report.verdict, report.not_run_reason) == ("not_run", "not_configured")
    assert "validation:" in report.hint
    assert git_server.calls == []  # nothing was even fetched


def test_a_fork_is_not_run_unless_the_repository_opts_in(git_server, work: Path):
    _, report = validate(git_server, work, {}, config(["echo ran"]), is_fork=True)
    assert (report.verdict, report.not_run_reason) == ("not_run", "fork")
    assert git_server.calls == []
    _, opted_in = validate(git_server, work, {}, config(["echo ran"], forks=True), is_fork=True)
    assert opted_in.verdict == "passed"


def test_a_refused_token_is_an_error_not_a_failure(git_server, work: Path):
    sha = git_server.repository("octo/calc").commit({"calc.py": CALC})
    work.mkdir()
    report = run_validation(
        clone_url=git_server.clone_url("octo/calc"),
        head_sha=sha,
        token="ghs_expired",
        config=config(["echo ran"]),
        is_fork=False,
        changed_paths=set(),
        work_root=work,
    )
    assert report.verdict == "error"
    assert report.summary.startswith("Checkout failed:") and "ghs_expired" not in report.summary
    assert report.commands == []
    assert list(work.iterdir()) == []


def test_a_clone_url_on_another_host_is_an_error(git_server, work: Path):
    work.mkdir()
    report = run_validation(
        clone_url="https://github.com.evil.example/octo/calc.git",
        head_sha="b" * 40,
        token=TOKEN,
        config=config(["echo ran"]),
        is_fork=False,
        changed_paths=set(),
        work_root=work,
    )
    assert report.verdict == "error" and "refusing clone URL" in report.summary
    assert git_server.calls == []


def test_read_only_files_left_by_commands_are_still_cleaned_up(git_server, work: Path):
    cfg = config(["mkdir -p cache/mod && touch cache/mod/f && chmod -R a-w cache"])
    _, report = validate(git_server, work, {}, cfg)
    assert report.verdict == "passed"
    assert list(work.iterdir()) == []
