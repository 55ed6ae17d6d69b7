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
