"""Flaky tests: the failing tests run once more; those that pass then are reported, not failed."""

from __future__ import annotations

from tests.integration.validation.test_run_validation import PYTEST, config, validate

# Fails on its first run in a validation, passes on the next: a counter file in the sandbox's TMPDIR.
FAILS_ONCE = (
    "import os\nfrom pathlib import Path\n\nfrom calc import add\n\n\n"
    "def test_add_is_flaky():\n"
    "    counter = Path(os.environ['TMPDIR']) / 'runs'\n"
    "    runs = int(counter.read_text()) if counter.exists() else 0\n"
    "    counter.write_text(str(runs + 1))\n"
    "    assert runs > 0, 'first run fails'\n\n\n"
    "def test_add():\n    assert add(1, 2) == 3\n"
)
ALWAYS_FAILS = "from calc import add\n\n\ndef test_add_is_wrong():\n    assert add(1, 2) == 4\n"


def test_a_test_that_fails_once_then_passes_is_flaky_and_the_attempt_passes(git_server, tmp_path):
    _, report = validate(
        git_server,
        tmp_path / "work",
        {"tests/test_flaky.py": FAILS_ONCE},
        config([f"{PYTEST} --junitxml=report.xml tests"]),
    )
    assert report.verdict == "passed", report
    assert report.summary == "Passed: 1 test command succeeded; 1 flaky test passed on a rerun"
    test, rerun = report.commands
    assert (test.phase, test.exit_code) == ("test", 1)
    assert (rerun.phase, rerun.exit_code) == ("rerun", 0)
    assert rerun.command == f"{PYTEST} --junitxml=report.xml tests -k test_add_is_flaky"
    assert "1 passed, 1 deselected" in rerun.output
    assert report.flaky_tests == ["tests.test_flaky::test_add_is_flaky"]
    assert report.failures == [] and report.failure_signature is None


def test_a_test_that_fails_again_on_the_rerun_fails_the_attempt_and_only_the_flaky_one_is_spared(
    git_server, tmp_path
):
    _, report = validate(
        git_server,
        tmp_path / "work",
        {"tests/test_flaky.py": FAILS_ONCE, "tests/test_wrong.py": ALWAYS_FAILS},
        config([f"{PYTEST} --junitxml=report.xml"]),
    )
    assert report.verdict == "failed"
    assert report.summary == "Tests failed: 1 failing test; 1 flaky test passed on a rerun"
    assert [c.phase for c in report.commands] == ["test", "rerun"]
    assert [f.test_id for f in report.failures] == ["tests.test_wrong::test_add_is_wrong"]
    assert report.flaky_tests == ["tests.test_flaky::test_add_is_flaky"]
    assert report.failure_signature


def test_a_command_that_cannot_be_narrowed_is_not_rerun(git_server, tmp_path):
    _, report = validate(
        git_server,
        tmp_path / "work",
        {"tests/test_flaky.py": FAILS_ONCE},
        config([f"cd tests && {PYTEST} --junitxml=../report.xml"]),
    )
    assert report.verdict == "failed"
    assert [c.phase for c in report.commands] == ["test"]
    assert report.flaky_tests == []


# A second flaky test for a second command: its own counter, so that each fails on its first run.
FAILS_ONCE_TOO = FAILS_ONCE.replace("'runs'", "'runs-too'").replace("test_add_is_flaky", "test_add_flakes_too")
JUNIT_COMMAND = f"{PYTEST} --junitxml=report.xml tests/test_flaky.py"  # its failures: from JUnit
FLAKY_IN_BOTH = ["tests.test_flaky::test_add_is_flaky", "tests/test_flaky_too.py::test_add_flakes_too"]


def test_each_failing_command_reruns_its_own_failing_tests(git_server, tmp_path):
    _, report = validate(
        git_server,
        tmp_path / "work",
        {"tests/test_flaky.py": FAILS_ONCE, "tests/test_flaky_too.py": FAILS_ONCE_TOO},
        config([JUNIT_COMMAND, f"{PYTEST} tests/test_flaky_too.py"]),  # the second's failures: from its output
    )
    assert report.verdict == "passed", report
    assert report.summary == "Passed: 2 test commands succeeded; 2 flaky tests passed on a rerun"
    assert [(c.phase, c.exit_code, c.rerun_of) for c in report.commands] == [
        ("test", 1, None),
        ("test", 1, None),
        ("rerun", 0, 0),
        ("rerun", 0, 1),
    ]
    assert [c.command for c in report.commands[2:]] == [
        f"{JUNIT_COMMAND} -k test_add_is_flaky",
        f"{PYTEST} tests/test_flaky_too.py -k test_add_flakes_too",
    ]
    assert report.flaky_tests == FLAKY_IN_BOTH
    assert report.failures == [] and report.failure_signature is None


def test_a_command_whose_rerun_fails_again_fails_the_attempt_though_the_others_rerun_passed(
    git_server, tmp_path
):
    _, report = validate(
        git_server,
        tmp_path / "work",
        {
            "tests/test_flaky.py": FAILS_ONCE,
            "tests/test_flaky_too.py": FAILS_ONCE_TOO,
            "tests/test_wrong.py": ALWAYS_FAILS,
        },
        config([JUNIT_COMMAND, f"{PYTEST} tests/test_flaky_too.py tests/test_wrong.py"]),
    )
    assert report.verdict == "failed"
    assert report.summary == "Tests failed: 1 failing test; 2 flaky tests passed on a rerun"
    assert [(c.phase, c.succeeded) for c in report.commands] == [
        ("test", False),
        ("test", False),
        ("rerun", True),
        ("rerun", False),
    ]
    assert report.commands[3].command.endswith("-k 'test_add_flakes_too or test_add_is_wrong'")
    assert [f.test_id for f in report.failures] == ["tests/test_wrong.py::test_add_is_wrong"]
    assert report.flaky_tests == FLAKY_IN_BOTH
    assert report.failure_signature
