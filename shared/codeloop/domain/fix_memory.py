"""Failure memory: what turned a failure green in a repository, recalled for a similar one later.

When an attempt's validation passes right after the task's previous attempt failed, the
repository remembers that failure (its signature, failing test ids, error types) and a short
summary of the change that fixed it: the files the green pull request changes and the agent's
own summary, within the size limits below. A later fix prompt in the same repository whose
failure has the same signature, a failing test or an error type in common gets up to
:data:`MAX_RECALLED` of them, most similar first, as context pieces titled "What fixed similar
failures here before". They are third-party text (the agent's words, file names), so they are
cleaned and fenced like every piece; their names (``fix_memory:<id>``) in the prompt's context
manifest record which were used.
"""

from __future__ import annotations

import re

from pydantic import Field

from codeloop.domain.frozen import Frozen
from codeloop.domain.validation import ValidationReport

MAX_RECALLED = 3
MAX_FILES = 20
MAX_PATH_CHARS = 200
MAX_SUMMARY_CHARS = 1_000
MAX_KEYS = 50  # test ids and error types kept per failure
TITLE = "What fixed similar failures here before"

# A dotted class name ending in Error or Exception: "AssertionError: ...", "E   ValueError".
_ERROR_TYPE = re.compile(r"\b((?:[A-Za-z_]\w*\.)*[A-Z]\w*(?:Error|Exception))\b")


class FailureKeys(Frozen):
    """What makes two failures similar: the same signature, a failing test or an error type."""

    signature: str
    test_ids: list[str] = Field(
        default_factory=list
    )  # failing tests, and failed HTTP checks as "check <name>"
    error_types: list[str] = Field(default_factory=list)


def error_type(declared: str | None, message: str) -> str | None:
    """The error's type as the runner named it, else the first one its message names."""
    if declared:
        return declared
    found = _ERROR_TYPE.search(message)
    return found.group(1) if found else None


def failure_keys(report: ValidationReport) -> FailureKeys | None:
    """The keys of a failed validation (None when it has no signature)."""
    if report.failure_signature is None:
        return None
    test_ids = [failure.test_id for failure in report.failures]
    test_ids += [f"check {check.name}" for check in report.checks if not check.passed]
    types = [error_type(failure.error_type, failure.message) for failure in report.failures]
    return FailureKeys(
        signature=report.failure_signature,
        test_ids=_distinct(test_ids),
        error_types=_distinct(t for t in types if t),
    )


def _distinct(values) -> list[str]:
    return list(dict.fromkeys(v[:MAX_PATH_CHARS] for v in values))[:MAX_KEYS]


class FixSummary(Frozen):
    files: list[str]
    summary: str


def fix_summary(changed_paths: list[str], agent_summary: str | None) -> FixSummary:
    """The change that fixed it, within the limits: the first files, the head of the summary."""
    files = [path[:MAX_PATH_CHARS] for path in sorted(changed_paths)[:MAX_FILES]]
    more = len(changed_paths) - len(files)
    if more > 0:
        files.append(f"(and {more} more)")
    text = (agent_summary or "").strip()
    if len(text) > MAX_SUMMARY_CHARS:
        text = text[: MAX_SUMMARY_CHARS - 1] + "…"
    return FixSummary(files=files, summary=text)


class FixMemory(Frozen):
    id: str
    attempt: int
    test_ids: list[str] = Field(default_factory=list)
    error_types: list[str] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list)
    summary: str = ""

    def text(self) -> str:
        lines = []
        if self.test_ids:
            lines.append("Failing then: " + ", ".join(self.test_ids))
        if self.error_types:
            lines.append("Error types: " + ", ".join(self.error_types))
        lines.append(
            f"Fixed by attempt {self.attempt}, changing: " + (", ".join(self.files) or "(not known)")
        )
        lines.append("The agent's summary of that change:")
        lines.append(self.summary or "(none given)")
        return "\n".join(lines)
