"""Which command reruns the failing tests, and what the rerun says about each."""

from __future__ import annotations

import pytest

from codeloop.domain.reruns import MAX_RERUN_TESTS, rerun_command, split_flaky
from codeloop.domain.test_results import TestFailure


def failure(name: str, suite: str | None = None, framework: str = "junit") -> TestFailure:
    return TestFailure(name=name, suite=suite, message="boom", framework=framework)


@pytest.mark.parametrize(
    ("command", "names", "expected"),
    [
        (
            "python -m pytest -q tests",
            ["test_b[1-2]", "test_a", "test_b[3]"],
            "python -m pytest -q tests -k 'test_a or test_b'",
        ),
        ("go test ./...", ["TestSum/negative", "TestDiv"], "go test ./... -run '^(TestDiv|TestSum)$'"),
        ("npx jest --ci", ["adds (1 + 2)"], "npx jest --ci -t 'adds\\ \\(1\\ \\+\\ 2\\)'"),
    ],
)
def test_the_rerun_selects_the_failing_tests_in_the_runners_terms(command, names, expected):
    assert rerun_command(command, [failure(name) for name in names]) == expected


@pytest.mark.parametrize(
    ("command", "names"),
    [
        ("cd tests && pytest", ["test_a"]),  # the selection would go to the last command only
        ("npm test", ["adds"]),  # a script: its runner is unknown
        ("cargo test", ["tests::adds"]),
        ("pytest", ["tests/test_a.py"]),  # a collection error, not a test name
        ("pytest", []),
        ("pytest", [f"test_{n}" for n in range(MAX_RERUN_TESTS + 1)]),
    ],
)
def test_no_rerun_where_the_selection_cannot_be_appended_safely(command, names):
    assert rerun_command(command, [failure(name) for name in names]) is None


def test_flaky_tests_are_those_the_rerun_no_longer_fails():
    flaky, wrong = failure("test_flaky", "tests.t"), failure("test_wrong", "tests.t")
    assert split_flaky([flaky, wrong], True, []) == ([], [flaky, wrong])
    assert split_flaky([flaky, wrong], False, [wrong]) == ([wrong], [flaky])
    # a rerun that failed without naming the first run's failures (it crashed) clears nobody
    assert split_flaky([flaky, wrong], False, []) == ([flaky, wrong], [])
    assert split_flaky([flaky], False, [failure("test_other", "tests.t")]) == ([flaky], [])
