"""Verdicts, forks, not-run reports, annotation mapping and the failure signature."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from codeloop.domain.repo_config import ConfigProblem, RepoConfig, parse_repo_config
from codeloop.domain.test_results import TestFailure, parse_junit_xml, parse_pytest
from codeloop.domain.validation import (
    MAX_ANNOTATIONS,
    CommandResult,
    RepoPaths,
    annotations_for,
    build_report,
    config_problem_report,
    failure_signature,
    is_fork_pull_request,
    may_run_code,
    normalise_message,
    not_run_report,
    protected_paths_hint,
    reason_not_to_run,
    verdict_for,
)
from tests.fixtures import WEBHOOK_EXAMPLES

SAMPLES = Path(__file__).parent / "samples"
SHA = "a" * 40


def command(phase: str = "test", exit_code: int | None = 0, timed_out: bool = False, output: str = ""):
    return CommandResult(
        phase=phase,
        command=f"{phase}-command",
        exit_code=exit_code,
        timed_out=timed_out,
        duration_seconds=1.0,
        output=output,
        output_bytes=len(output),
    )


def failure(name: str = "test_x", message: str = "assert 1 == 2", **fields) -> TestFailure:
    return TestFailure(name=name, message=message, framework="pytest", **fields)


# -- forks -----------------------------------------------------------------------------------


def example_pull_request() -> dict:
    payload = json.loads((WEBHOOK_EXAMPLES / "pull_request" / "opened.payload.json").read_text())
    return payload["pull_request"]


def test_same_repository_pull_request_is_not_a_fork():
    assert is_fork_pull_request(example_pull_request()) is False


def test_pull_request_from_another_repository_is_a_fork():
    pull_request = copy.deepcopy(example_pull_request())
    pull_request["head"]["repo"]["full_name"] = "someone-else/Hello-World"
    assert is_fork_pull_request(pull_request) is True


def test_pull_request_whose_fork_was_deleted_is_a_fork():
    pull_request = copy.deepcopy(example_pull_request())
    pull_request["head"]["repo"] = None
    assert is_fork_pull_request(pull_request) is True


def test_fork_code_runs_only_when_the_repository_opts_in():
    opted_in = parse_repo_config("validation:\n  forks: true\n  test: [make test]\n")
    assert may_run_code(RepoConfig(), is_fork=True) is False
    assert may_run_code(opted_in, is_fork=True) is True
    assert may_run_code(RepoConfig(), is_fork=False) is True


# -- reports where nothing runs --------------------------------------------------------------


def test_not_configured_report_says_what_to_add():
    report = not_run_report("not_configured", SHA)
    assert (report.verdict, report.not_run_reason) == ("not_run", "not_configured")
    assert "validation:" in report.hint and "test:" in report.hint


def test_fork_report_points_at_the_option():
    report = not_run_report("fork", SHA)
    assert report.verdict == "not_run" and "validation.forks: true" in report.hint


def test_a_pull_request_changing_protected_paths_is_not_run_whoever_made_it():
    config = parse_repo_config(
        'validation:\n  test: [make test]\n  forks: true\nprotected_paths: ["infra/**"]\n'
    )
    assert reason_not_to_run(config, is_fork=False, changed_paths={"src/app.py"}) is None
    for protected in (".github/workflows/ci.yml", ".github/codeloop.yml", "infra/main.tf"):
        changed = {"src/app.py", protected}
        assert reason_not_to_run(config, is_fork=False, changed_paths=changed) == "protected_paths"
        assert reason_not_to_run(config, is_fork=True, changed_paths=changed) == "protected_paths"


def test_the_protected_paths_report_names_each_file_and_its_rule():
    config = parse_repo_config('protected_paths: ["infra/**"]\n')
    changed = {"src/app.py", "infra/main.tf", ".github/workflows/ci.yml"}
    report = not_run_report("protected_paths", SHA, protected_paths_hint(changed, config))
    assert (report.verdict, report.not_run_reason) == ("not_run", "protected_paths")
    assert report.summary == "Not run: the pull request changes protected paths"
    assert report.hint.splitlines()[:3] == [
        "This pull request changes protected paths:",
        "- `.github/workflows/ci.yml` (protected by `.github/workflows/**`)",
        "- `infra/main.tf` (protected by `infra/**`)",
    ]
    assert "src/app.py" not in report.hint


def test_invalid_config_report_lists_the_problems():
    with pytest.raises(ConfigProblem) as caught:
        parse_repo_config("validation:\n  tests: [pytest]\n")
    report = config_problem_report(caught.value, SHA)
    assert report.not_run_reason == "config_invalid"
    assert "validation.tests" in report.hint


# -- verdict ---------------------------------------------------------------------------------


def test_all_commands_succeeding_pass():
    assert verdict_for([command("setup"), command(), command()], 0) == (
        "passed",
        "Passed: 2 test commands succeeded",
    )


def test_a_failing_setup_fails_and_says_so():
    verdict, summary = verdict_for([command("setup", exit_code=2)], 0)
    assert verdict == "failed" and summary == "Setup failed: `setup-command` exited with 2"


def test_failing_tests_are_counted_when_parsed():
    assert verdict_for([command(exit_code=1)], 3) == ("failed", "Tests failed: 3 failing tests")


def test_a_rerun_that_passes_clears_only_the_command_it_narrows():
    first, second = command(exit_code=1), command(exit_code=1)
    rerun_first = command("rerun").model_copy(update={"rerun_of": 0})
    rerun_second = command("rerun", exit_code=1).model_copy(update={"rerun_of": 1})
    assert verdict_for([first, second, rerun_first, rerun_second], 1, flaky_count=1) == (
        "failed",
        "Tests failed: 1 failing test; 1 flaky test passed on a rerun",
    )
    assert verdict_for([first, second, rerun_first], 0, flaky_count=1) == (
        "failed",
        "Tests failed: `test-command` exited with 1",
    )
    cleared_both = [first, second, rerun_first, rerun_first.model_copy(update={"rerun_of": 1})]
    assert verdict_for(cleared_both, 0, flaky_count=2) == (
        "passed",
        "Passed: 2 test commands succeeded; 2 flaky tests passed on a rerun",
    )


def test_a_timed_out_test_command_fails():
    verdict, summary = verdict_for([command(exit_code=None, timed_out=True)], 0)
    assert verdict == "failed" and "time limit" in summary


def test_a_zero_exit_code_with_timed_out_flag_is_not_success():
    assert command(exit_code=0, timed_out=True).succeeded is False


# -- annotations -----------------------------------------------------------------------------

REPO_FILES = [
    "calc.py",
    "tests/test_calc.py",
    "tests/test_fixture.py",
    "src/main/java/com/example/Calculator.java",
    "src/test/java/com/example/CalculatorTest.java",
    "src/test/java/com/other/CalculatorTest.java",
    "pkg/calc/calc_test.go",
    "cmd/calc/calc_test.go",
]


def test_pytest_failures_annotate_the_failing_lines():
    failures = parse_pytest((SAMPLES / "pytest.txt").read_text())
    annotations = annotations_for(failures, RepoPaths(REPO_FILES), changed_paths={"calc.py"})
    assert [(a.path, a.start_line, a.end_line, a.annotation_level) for a in annotations] == [
        ("tests/test_calc.py", 10, 10, "failure"),
        ("tests/test_calc.py", 16, 16, "failure"),
        ("tests/test_calc.py", 19, 19, "failure"),
        ("tests/test_fixture.py", 6, 6, "failure"),
    ]
    assert annotations[0].title == "tests/test_calc.py::test_add_two failed"
    assert annotations[0].message == "assert 5 == 4"
    assert annotations[3].title.endswith("errored")


def test_xunit2_failures_are_located_through_the_class_name_and_traceback():
    failures = parse_junit_xml((SAMPLES / "pytest-xunit2.xml").read_bytes())
    annotations = annotations_for(failures, RepoPaths(REPO_FILES), changed_paths=set())
    assert [(a.path, a.start_line) for a in annotations] == [
        ("tests/test_calc.py", 10),
        ("tests/test_calc.py", 16),
        ("tests/test_calc.py", 19),
    ]


def test_a_java_failure_raised_in_another_file_is_shown_at_the_test_and_where_it_broke():
    failures = parse_junit_xml((SAMPLES / "surefire.xml").read_bytes())
    changed = {"src/main/java/com/example/Calculator.java"}
    annotations = annotations_for(failures, RepoPaths(REPO_FILES), changed_paths=changed)
    assert [(a.path, a.start_line, a.title) for a in annotations] == [
        (
            "src/test/java/com/example/CalculatorTest.java",
            14,
            "com.example.CalculatorTest::addsNumbers failed",
        ),
        ("src/test/java/com/example/CalculatorTest.java", 20, "com.example.CalculatorTest::divides errored"),
        (
            "src/main/java/com/example/Calculator.java",
            9,
            "com.example.CalculatorTest::divides errored here",
        ),
    ]
    assert annotations[2].message == annotations[1].message


def test_absolute_paths_inside_the_checkout_become_repository_paths():
    root = "/tmp/codeloop-validation-x/checkout"
    found = failure(file=f"{root}/tests/test_calc.py", line=7)
    outside = failure(name="t2", file="/usr/lib/python3.12/unittest/case.py", line=3)
    annotations = annotations_for([found, outside], RepoPaths(REPO_FILES, root), changed_paths=set())
    assert [(a.path, a.start_line) for a in annotations] == [("tests/test_calc.py", 7)]


def test_bare_go_file_names_are_resolved_with_the_package_hint():
    paths = RepoPaths(REPO_FILES)
    assert paths.resolve("calc_test.go", hint="example.com/mod/pkg/calc") == "pkg/calc/calc_test.go"
    assert paths.resolve("calc_test.go", hint="example.com/mod/cmd/calc") == "cmd/calc/calc_test.go"
    assert paths.resolve("calc_test.go") is None  # ambiguous without a hint


def test_paths_outside_the_repository_are_never_annotated():
    paths = RepoPaths(REPO_FILES)
    assert paths.resolve("../etc/passwd") is None
    assert paths.resolve("/etc/passwd") is None
    assert paths.resolve("missing.py") is None


def test_annotations_are_capped():
    failures = [
        failure(name=f"test_{n}", file="tests/test_calc.py", line=n + 1) for n in range(MAX_ANNOTATIONS + 50)
    ]
    assert len(annotations_for(failures, RepoPaths(REPO_FILES), changed_paths=set())) == MAX_ANNOTATIONS


# -- failure signature -----------------------------------------------------------------------


def test_normalisation_removes_what_changes_between_runs_and_keeps_numbers():
    first = "bad value 0x7f3a2b1c at /tmp/pytest-of-root/pytest-3/x after 1.52s (attempt 3)"
    second = "bad value 0x55d1e0 at /tmp/pytest-of-root/pytest-9/x after 12ms (attempt 3)"
    assert normalise_message(first) == normalise_message(second)
    assert normalise_message(first) == "bad value <addr> at <tmp> after <duration> (attempt 3)"
    assert normalise_message(first.replace("attempt 3", "attempt 4")) != normalise_message(first)


def test_normalisation_removes_locations_absolute_paths_and_timestamps():
    first = 'File "/srv/a/calc.py", line 3 at 2026-12-02T14:04:41.359774+00:00 in /home/ci/.cache/x (src/a.js:5:23)'
    second = 'File "/srv/b/calc.py", line 9 at 2026-12-03T09:00:00Z in /home/dev/.cache/y (src/a.js:7:1)'
    assert (
        normalise_message(first) == normalise_message(second) == "<location> at <time> in <path> (<location>)"
    )


def test_signature_is_stable_across_runs_and_order():
    run_one = [failure("test_a", "expected 3 got 4 in 0.02s"), failure("test_b", "boom at 0xdeadbeef")]
    run_two = [failure("test_b", "boom at 0x1234"), failure("test_a", "expected 3 got 4 in 1.3s")]
    assert failure_signature(run_one, []) == failure_signature(run_two, [])


def test_signature_tells_apart_failures_that_differ_only_by_a_number():
    assert failure_signature([failure("test_a", "3 != 4")], []) != failure_signature(
        [failure("test_a", "3 != 5")], []
    )


def test_signature_changes_when_a_different_test_fails_or_the_message_changes():
    base = failure_signature([failure("test_a", "KeyError: 'x'")], [])
    assert failure_signature([failure("test_b", "KeyError: 'x'")], []) != base
    assert failure_signature([failure("test_a", "TypeError: 'x'")], []) != base
    assert failure_signature([failure("test_a"), failure("test_b")], []) != failure_signature(
        [failure("test_a")], []
    )


def test_signature_without_parsed_failures_uses_the_failing_command_output():
    first = [command(exit_code=1, output="build took 3.2s\nerror: cannot find module foo at /tmp/x1/y\n")]
    second = [command(exit_code=1, output="build took 4s\nerror: cannot find module foo at /tmp/x2/y\n")]
    other = [command(exit_code=1, output="error: cannot find module bar\n")]
    assert failure_signature([], first) == failure_signature([], second)
    assert failure_signature([], first) != failure_signature([], other)


def test_build_report_fills_everything_in_for_a_failure():
    failures = parse_pytest((SAMPLES / "pytest.txt").read_text())
    report = build_report(
        head_sha=SHA,
        commands=[command("setup"), command(exit_code=1)],
        failures=failures,
        results_source="output",
        changed_paths={"calc.py"},
        repo_files=REPO_FILES,
    )
    assert report.verdict == "failed"
    assert report.summary == "Tests failed: 4 failing tests"
    assert report.failures_total == 4 and len(report.annotations) == 4
    assert report.failure_signature == failure_signature(failures, report.commands)


def test_a_passing_report_has_no_signature():
    report = build_report(
        head_sha=SHA,
        commands=[command()],
        failures=[],
        results_source="none",
        changed_paths=set(),
        repo_files=REPO_FILES,
    )
    assert (report.verdict, report.failure_signature, report.annotations) == ("passed", None, [])
