"""Flaky tests: the command that runs only the failing tests of a test command again, and what the
rerun says about each of them.

A rerun appends a selection to the command the repository configured, in the runner's own terms:
pytest ``-k`` (the test names: unlike node ids, it narrows whatever paths the command already
names), ``go test -run`` (the top-level test names, anchored), jest or vitest ``-t`` (the test
names as a pattern). Commands the selection cannot be appended to safely (several shell commands
joined, a script such as ``npm test``) and other runners get no rerun.
"""

from __future__ import annotations

import itertools
import re
import shlex
from collections.abc import Sequence

from codeloop.domain.test_results import TestFailure

SHELL_OPERATORS = re.compile(r"[;&|<>`\n]|\$\(")
MAX_RERUN_TESTS = 50
_PARAMETERS = re.compile(r"\[.*\]$")


def _runner_of(command: str) -> str | None:
    if SHELL_OPERATORS.search(command):
        return None
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    names = [word.rsplit("/", 1)[-1] for word in words]
    if "pytest" in names or "py.test" in names:
        return "pytest"
    if any(name == "go" and following == "test" for name, following in itertools.pairwise(names)):
        return "go"
    if "jest" in names or "vitest" in names:
        return "jest"
    return None


def rerun_command(command: str, failures: Sequence[TestFailure]) -> str | None:
    """``command`` narrowed to the tests that failed, or None when it cannot be narrowed."""
    if not failures or len(failures) > MAX_RERUN_TESTS:
        return None
    runner = _runner_of(command)
    if runner == "pytest":
        names = sorted({_PARAMETERS.sub("", f.name).rsplit("::", 1)[-1] for f in failures})
        if not all(name.isidentifier() for name in names):
            return None
        return f"{command} -k {shlex.quote(' or '.join(names))}"
    if runner == "go":
        names = sorted({f.name.split("/", 1)[0] for f in failures})
        if not all(re.fullmatch(r"\w+", name) for name in names):
            return None
        return f"{command} -run {shlex.quote('^(' + '|'.join(names) + ')$')}"
    if runner == "jest":
        names = sorted({f.name for f in failures})
        return f"{command} -t {shlex.quote('|'.join(re.escape(name) for name in names))}"
    return None


def split_flaky(
    failures: Sequence[TestFailure], rerun_succeeded: bool, rerun_failures: Sequence[TestFailure]
) -> tuple[list[TestFailure], list[TestFailure]]:
    """(still failing, flaky): a test is flaky when it failed, then passed on the rerun. When the
    rerun failed without naming any of the first run's failures, nothing is called flaky."""
    if rerun_succeeded:
        return [], list(failures)
    again = {f.test_id for f in rerun_failures}
    if not again & {f.test_id for f in failures}:
        return list(failures), []
    return [f for f in failures if f.test_id in again], [f for f in failures if f.test_id not in again]
