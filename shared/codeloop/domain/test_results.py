"""Failing tests from a test run: JUnit XML first, else the summary lines test runners print.

Pure parsing: bytes and text in, :class:`TestFailure` out. Supported summary formats: pytest
(doctests too), unittest (doctests too), jest, vitest, go test, cargo test and TAP 13/14 (tape,
node:test's TAP reporter, Perl's prove). Every parser runs over the whole output (a monorepo may
run several runners) and the results are merged by test id.

A failure carries two kinds of place: ``file``/``line``, the test itself, and ``stack``, the
frames its trace names from the outermost to the one that raised, so that a failure raised in
library code can be shown both where the test is and where it broke.

JUnit XML comes from code under test, so it is parsed without any DTD: a document that declares
one (the only way to define entities) is refused, which rules out entity-expansion attacks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Literal
from xml.parsers import expat

from pydantic import BaseModel, ConfigDict

MESSAGE_CHARS = 1_000
DETAILS_HEAD_CHARS = 2_000
DETAILS_TAIL_CHARS = 6_000

Framework = Literal["junit", "pytest", "unittest", "jest", "vitest", "go", "cargo", "tap"]


class SourceLocation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    line: int | None = None


class TestFailure(BaseModel):
    """One failing (or erroring) test, as precisely located as its runner allows."""

    __test__ = False  # not a pytest test class, despite the name
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    suite: str | None = None  # class, module or package the runner groups the test under
    file: str | None = None  # as printed by the runner: relative, absolute or a bare file name
    line: int | None = None
    message: str
    error_type: str | None = None  # when the runner names it apart from the message (JUnit, node:test)
    details: str = ""
    stack: list[SourceLocation] = []  # frames from the outermost to the one that raised
    kind: Literal["failure", "error"] = "failure"
    framework: Framework

    @property
    def test_id(self) -> str:
        return f"{self.suite}::{self.name}" if self.suite else self.name


class JUnitError(ValueError):
    """A JUnit file that is not well-formed XML, or that declares a DTD."""

    def __init__(self, message: str, open_test: str | None = None):
        super().__init__(message)
        self.open_test = open_test  # the test case the document ended inside, if it was cut short


# -- shared text helpers ---------------------------------------------------------------------

# Raw escape codes, and the forms they take once written into XML: pytest's junitxml turns ESC
# into the text "#x1B", other writers into a character reference that ends up as "&#27;".
_ANSI = re.compile(r"(?:\x1b|#x1[bB]|&#27;|&#x1[bB];)\[[0-9;?]*[ -/]*[@-~]")
_SOURCE_EXTENSIONS = (
    "py|pyx|js|jsx|mjs|cjs|ts|tsx|mts|cts|vue|svelte|go|rs|java|kt|kts|scala|groovy|rb|php|cs|fs|"
    "c|cc|cpp|cxx|h|hh|hpp|m|mm|swift|ex|exs|erl|dart|lua|sh"
)
_LOCATION_PATTERNS = (
    re.compile(r'File "(?P<path>[^"\n]+)", line (?P<line>\d+)'),
    re.compile(
        rf"(?<![\w./@+-])(?P<path>[\w./@+-]*[\w@+-]\.(?:{_SOURCE_EXTENSIONS})):(?P<line>\d+)(?![\d.])"
    ),
)


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


# A JavaScript, Java or Rust backtrace line ("    at f (file.js:3:9)", "\tat a.B.c(B.java:14)",
# "             at ./src/lib.rs:6:15"): such traces list the frame that raised first.
_INNERMOST_FIRST_FRAME = re.compile(r"^\s+at \S.*:\d+\)?\s*$", re.M)


def stack_from_text(text: str, locations: list[SourceLocation] | None = None) -> list[SourceLocation]:
    """The locations a trace names (``locations``, when they were read already), from the
    outermost frame to the one that raised."""
    if locations is None:
        locations = locations_in_text(text)
    return locations[::-1] if _INNERMOST_FIRST_FRAME.search(text) else locations


def locations_in_text(text: str) -> list[SourceLocation]:
    """Every ``file:line`` a traceback or stack trace mentions, in the order they appear."""
    found: list[tuple[int, str, int]] = []
    for pattern in _LOCATION_PATTERNS:
        for match in pattern.finditer(text):
            found.append((match.start(), match["path"], int(match["line"])))
    found.sort(key=lambda item: item[0])
    unique = dict.fromkeys((path, line) for _, path, line in found)
    return [SourceLocation(path=path, line=line) for path, line in unique]


def _clip_message(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + "…"


def _clip_details(text: str) -> str:
    text = text.strip("\n")
    if len(text) <= DETAILS_HEAD_CHARS + DETAILS_TAIL_CHARS:
        return text
    cut = len(text) - DETAILS_HEAD_CHARS - DETAILS_TAIL_CHARS
    return f"{text[:DETAILS_HEAD_CHARS]}\n… [{cut} characters cut] …\n{text[-DETAILS_TAIL_CHARS:]}"


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _last_location_in(locations: list[SourceLocation], path: str) -> int | None:
    """The line of the last of ``locations`` (in the order printed) in the file ``path``."""
    lines = [loc.line for loc in locations if loc.path == path or loc.path.endswith("/" + path)]
    return lines[-1] if lines else None


# -- JUnit XML -------------------------------------------------------------------------------

_GENERIC_MESSAGES = {"", "failed", "failure", "error"}


class _JUnitCollector:
    """Streams expat events into failures; holds only what the open test case needs."""

    def __init__(self) -> None:
        self.failures: list[TestFailure] = []
        self._suites: list[dict[str, str]] = []
        self._case: dict[str, str] | None = None
        self._problem_kind: str | None = None  # "failure" or "error": the case's first problem
        self._problem_attrs: dict[str, str] = {}
        self._problem_text: list[str] = []
        self._collecting = False

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        if tag == "testsuite":
            self._suites.append(attrs)
        elif tag == "testcase":
            self._case = attrs
            self._problem_kind = None
        elif tag in ("failure", "error") and self._case is not None and self._problem_kind is None:
            self._problem_kind, self._problem_attrs, self._problem_text = tag, attrs, []
            self._collecting = True

    def text(self, data: str) -> None:
        if self._collecting:
            self._problem_text.append(data)

    def end(self, tag: str) -> None:
        if tag == "testsuite" and self._suites:
            self._suites.pop()
        elif tag == self._problem_kind:
            self._collecting = False
        elif tag == "testcase" and self._case is not None:
            if self._problem_kind is not None:
                self.failures.append(self._failure(self._case))
            self._case = None
            self._problem_kind = None

    def _failure(self, case: dict[str, str]) -> TestFailure:
        suite = self._suites[-1] if self._suites else {}
        details = strip_ansi("".join(self._problem_text))
        message = strip_ansi(self._problem_attrs.get("message", ""))
        if message.strip().lower() in _GENERIC_MESSAGES:
            message = _first_line(details) or self._problem_attrs.get("type", "") or str(self._problem_kind)
        message = _doctest_message(details) or message
        locations = locations_in_text(details)
        file = case.get("file") or suite.get("file") or None
        line = _int_or_none(case.get("line"))
        if line is not None and suite.get("name") == "pytest":
            line += 1  # pytest writes the 0-based line of the test's definition
        if file:
            line = _last_location_in(locations, file) or line
        name, group = _case_identity(case, suite)
        return TestFailure(
            name=name,
            suite=group,
            file=file,
            line=line,
            message=_clip_message(message),
            error_type=self._problem_attrs.get("type") or None,
            details=_clip_details(details),
            stack=stack_from_text(details, locations),
            kind="error" if self._problem_kind == "error" else "failure",
            framework="junit",
        )

    @property
    def open_test(self) -> str | None:
        """The test case whose element was opened and not closed, as a test id."""
        if self._case is None:
            return None
        name, group = _case_identity(self._case, self._suites[-1] if self._suites else {})
        return f"{group}::{name}" if group else name


def _case_identity(case: dict[str, str], suite: dict[str, str]) -> tuple[str, str | None]:
    """A test case's name and the group it belongs to (class, module, file or suite)."""
    name = case.get("name", "?")
    group = case.get("classname") or suite.get("name") or None
    if group == name:  # jest-junit repeats the title as the class name by default
        group = case.get("file") or suite.get("file") or suite.get("name") or None
    return name, group


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _refuse_dtd(*_: object) -> None:
    raise JUnitError("JUnit XML with a DOCTYPE is refused (entities are never expanded)")


def parse_junit_chunks(chunks: Iterable[bytes]) -> list[TestFailure]:
    """Failures in a JUnit XML document given as byte chunks (a file read piece by piece)."""
    collector = _JUnitCollector()
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    parser.ExternalEntityRefHandler = _refuse_dtd
    parser.StartElementHandler = collector.start
    parser.EndElementHandler = collector.end
    parser.CharacterDataHandler = collector.text
    parser.buffer_text = True
    try:
        for chunk in chunks:
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        open_test = collector.open_test
        cut_inside = (
            f"; it ends inside test {open_test}, which was probably still running" if open_test else ""
        )
        raise JUnitError(
            f"not well-formed JUnit XML: {expat.ErrorString(exc.code)} at line {exc.lineno}{cut_inside}",
            open_test,
        ) from None
    return collector.failures


def parse_junit_xml(data: bytes) -> list[TestFailure]:
    return parse_junit_chunks([data])


# -- summary lines: one parser per runner ----------------------------------------------------

_PYTEST_SUMMARY = re.compile(r"^(?P<kind>FAILED|ERROR) (?P<id>[^\s:]+\.py(?:::.*?)?)(?: - (?P<message>.*))?$")
_PYTEST_SECTION_HEADER = re.compile(r"^_{3,} (?P<title>.+?) _{3,}$")
_PYTEST_BANNER = re.compile(r"^={3,} .* ={3,}$")


def parse_pytest(output: str) -> list[TestFailure]:
    """pytest's "short test summary info" lines, located through the tracebacks above them."""
    blocks = _blocks_by_header(output, _PYTEST_SECTION_HEADER, _PYTEST_BANNER)
    failures = []
    for line in output.splitlines():
        match = _PYTEST_SUMMARY.match(line)
        if not match:
            continue
        test_id = match["id"]
        file, _, rest = test_id.partition("::")
        name = rest or file
        title = rest.replace("::", ".")
        kind = "failure" if match["kind"] == "FAILED" else "error"
        block = (
            blocks.get(title)
            or blocks.get(f"[doctest] {title}")
            or blocks.get(f"ERROR at setup of {title}")
            or blocks.get(f"ERROR collecting {file}", "")
        )
        message = (
            match["message"] or _doctest_message(block) or _pytest_error_line(block) or match["kind"].lower()
        )
        locations = locations_in_text(block)
        failures.append(
            TestFailure(
                name=name,
                suite=file if rest else None,
                file=file,
                line=_last_location_in(locations, file),
                message=_clip_message(message),
                details=_clip_details(block),
                stack=locations,
                kind=kind,
                framework="pytest",
            )
        )
    return failures


def _pytest_error_line(block: str) -> str:
    errors = [line[1:].strip() for line in block.splitlines() if line.startswith("E ")]
    return errors[0] if errors else ""


def _blocks_by_header(output: str, header: re.Pattern[str], stop: re.Pattern[str]) -> dict[str, str]:
    """Sections of ``output`` keyed by the title their header line names."""
    blocks: dict[str, str] = {}
    title: str | None = None
    lines: list[str] = []
    for line in output.splitlines():
        match = header.match(line)
        if match or stop.match(line):
            if title is not None:
                blocks.setdefault(title, "\n".join(lines))
            title = match["title"] if match else None
            lines = []
        elif title is not None:
            lines.append(line)
    if title is not None:
        blocks.setdefault(title, "\n".join(lines))
    return blocks


_UNITTEST_HEADER = re.compile(r"^(?P<kind>FAIL|ERROR): (?P<name>\S+) \((?P<suite>[^)]*)\)")
_UNITTEST_SEPARATOR = re.compile(r"^={20,}$")  # between two failures
_UNITTEST_RULE = re.compile(r"^-{20,}$")
_UNITTEST_RAN = re.compile(r"^Ran \d+ tests? in ")
_LIBRARY_PATH = re.compile(r"(?:site-packages|dist-packages|/lib/python\d|^<)")
_DOCTEST_EXAMPLE = re.compile(r'File "(?P<path>[^"\n]+)", line (?P<line>\d+), in \S+\n(?=Failed example:)')


def parse_unittest(output: str) -> list[TestFailure]:
    """unittest's (and Django's) ``FAIL: test_x (module.Class.test_x)`` sections, doctests included."""
    failures = []
    lines = output.splitlines()
    for index, line in enumerate(lines):
        match = _UNITTEST_HEADER.match(line)
        if not match:
            continue
        trace = "\n".join(_unittest_section(lines[index + 1 :])).strip("\n")
        suite = match["suite"]
        name = match["name"]
        if suite.endswith("." + name):
            suite = suite[: -len(name) - 1]
        example = _DOCTEST_EXAMPLE.search(trace)
        if example:  # a doctest: the failing example is the test's place, its report the message
            stack = [SourceLocation(path=example["path"], line=int(example["line"]))]
            message = _doctest_message(trace) or match["kind"]
        else:
            stack = [
                loc
                for loc in locations_in_text(trace)
                if loc.path.endswith(".py") and not _LIBRARY_PATH.search(loc.path)
            ]
            message = next(
                (text.strip() for text in reversed(trace.splitlines()) if text.strip()), match["kind"]
            )
        failures.append(
            TestFailure(
                name=name,
                suite=suite or None,
                file=stack[0].path if stack else None,
                line=stack[0].line if stack else None,
                message=_clip_message(message),
                details=_clip_details(trace),
                stack=stack,
                kind="failure" if match["kind"] == "FAIL" else "error",
                framework="unittest",
            )
        )
    return failures


def _unittest_section(lines: list[str]) -> list[str]:
    """A failure's lines after its header: up to the next failure or the closing "Ran N tests"
    (a doctest's report has a rule of its own inside)."""
    body: list[str] = []
    for index, line in enumerate(lines):
        if _UNITTEST_SEPARATOR.match(line):
            break
        if _UNITTEST_RULE.match(line):
            following = lines[index + 1] if index + 1 < len(lines) else ""
            if _UNITTEST_RAN.match(following):
                break
            if body:
                body.append("")
            continue
        body.append(line)
    return body


_DOCTEST_REPORT = re.compile(r"^Failed example:\n(?:.*\n?)*?(?=^-{20,}$|^File \"|\Z)", re.M)
_PYTEST_DOCTEST_SOURCE = re.compile(r"^\d{3} +>>> (?P<source>.*)$", re.M)
_PYTEST_DOCTEST_OUTCOME = re.compile(
    r"^(?:Expected:|UNEXPECTED EXCEPTION:)(?:.*\n?)*?(?=^\S+:\d+: (?:DocTestFailure|UnexpectedException)$|\Z)",
    re.M,
)


def _doctest_message(text: str) -> str | None:
    """A failed doctest's own report (the example, what was expected, what came), from
    unittest's or pytest's output; None when the text is not a doctest's."""
    if ">>> " not in text and "Failed example:" not in text:
        return None
    if report := _DOCTEST_REPORT.search(text):
        return report.group(0).strip()
    sources = list(_PYTEST_DOCTEST_SOURCE.finditer(text))
    outcome = _PYTEST_DOCTEST_OUTCOME.search(text)
    if sources and outcome:
        return f"Failed example:\n    {sources[-1]['source']}\n{outcome.group(0).strip()}"
    return None


_JEST_FILE = re.compile(r"^\s*(?P<status>FAIL|PASS)\s+(?P<file>\S+)(?:\s+\([^)]*\))?\s*$")
_JEST_TEST = re.compile(r"^\s*● (?P<title>.+?)\s*$")
_JEST_END = re.compile(r"^\s*(?:Tests?:|Test Suites:|Snapshots:|Summary of all failing tests)")


def parse_jest(output: str) -> list[TestFailure]:
    """jest's ``FAIL file`` / ``● suite › test`` blocks."""
    failures = []
    file: str | None = None
    title: str | None = None
    body: list[str] = []

    def flush() -> None:
        if title is not None and file is not None:
            failures.append(_script_failure("jest", file, title, body))

    for line in output.splitlines():
        file_match = _JEST_FILE.match(line)
        test_match = _JEST_TEST.match(line)
        if file_match or test_match or _JEST_END.match(line):
            flush()
            title, body = None, []
            if file_match:
                file = file_match["file"] if file_match["status"] == "FAIL" else None
            elif test_match:
                title = test_match["title"]
        elif title is not None:
            body.append(line)
    flush()
    return failures


_VITEST_TEST = re.compile(r"^\s*FAIL\s+(?P<file>\S+) > (?P<title>.+?)\s*$")
_VITEST_END = re.compile(r"^\s*(?:⎯{3,}|Test Files\s|Tests\s+\d)")


def parse_vitest(output: str) -> list[TestFailure]:
    """vitest's ``FAIL  file > suite > test`` blocks."""
    failures = []
    current: tuple[str, str] | None = None
    body: list[str] = []
    for line in [*output.splitlines(), "⎯⎯⎯"]:
        match = _VITEST_TEST.match(line)
        if match or _VITEST_END.match(line):
            if current is not None:
                failures.append(_script_failure("vitest", current[0], current[1], body))
            current = (match["file"], match["title"]) if match else None
            body = []
        elif current is not None:
            body.append(line)
    return failures


def _script_failure(framework: Framework, file: str, title: str, body: list[str]) -> TestFailure:
    details = "\n".join(body).strip("\n")
    in_file = [
        loc for loc in locations_in_text(details) if loc.path.endswith(file) or file.endswith(loc.path)
    ]
    line = in_file[0].line if in_file else None
    return TestFailure(
        name=title,
        suite=file,
        file=file,
        line=line,
        message=_clip_message(_first_line(details) or "failed"),
        details=_clip_details(details),
        stack=stack_from_text(details),
        framework=framework,
    )


_GO_EVENT = re.compile(r"^\s*=== (?:RUN|CONT|NAME|PAUSE)\s+(?P<name>\S+)")
_GO_RESULT = re.compile(r"^\s*--- (?P<status>FAIL|PASS|SKIP): (?P<name>\S+) \([\d.]+s\)")
_GO_LOG = re.compile(r"^\s+(?P<file>[\w.+-]+\.go):(?P<line>\d+): (?P<message>.*)$")
_GO_PACKAGE = re.compile(r"^(?:FAIL|ok)\s+(?P<package>\S+)\s+(?:[\d.]+s|\(cached\)|\[.*\])")


def parse_go_test(output: str) -> list[TestFailure]:
    """``go test`` output, with or without -v: ``--- FAIL: TestX`` and its ``file.go:N:`` logs."""
    failures: list[TestFailure] = []
    logs: dict[str, list[list[str]]] = {}  # test name -> log entries, each a first line + continuations
    failed: list[str] = []
    current: str | None = None
    for line in output.splitlines():
        if match := _GO_EVENT.match(line) or _GO_RESULT.match(line):
            current = match["name"]
            if match.groupdict().get("status") == "FAIL":
                failed.append(current)
        elif match := _GO_LOG.match(line):
            if current is not None:
                logs.setdefault(current, []).append([line.strip()])
        elif (match := _GO_PACKAGE.match(line)) and failed:
            failures.extend(_go_failures(failed, logs, match["package"]))
            failed, logs, current = [], {}, None
        elif current is not None and current in logs and line.startswith(" " * 8):
            logs[current][-1].append(line.strip())  # a multi-line t.Errorf message continues
    failures.extend(_go_failures(failed, logs, None))
    return failures


def _go_failures(
    failed: list[str], logs: dict[str, list[list[str]]], package: str | None
) -> list[TestFailure]:
    results = []
    for name in dict.fromkeys(failed):
        has_failing_subtest = any(other.startswith(name + "/") for other in failed)
        entries = logs.get(name, [])
        if has_failing_subtest and not entries:
            continue  # a parent fails because its subtests did: report the subtests
        first = _GO_LOG.match(" " + entries[0][0]) if entries else None
        details = "\n".join("\n".join(entry) for entry in entries)
        location = [SourceLocation(path=first["file"], line=int(first["line"]))] if first else []
        results.append(
            TestFailure(
                name=name,
                suite=package,
                file=first["file"] if first else None,
                line=int(first["line"]) if first else None,
                message=_clip_message(first["message"] if first else "FAIL"),
                details=_clip_details(details),
                stack=location,
                framework="go",
            )
        )
    return results


_CARGO_FAILED = re.compile(r"^(?:test (?P<name>.+?) \.\.\. FAILED|(?P<quiet>\S+) --- FAILED)$")
_CARGO_BLOCK = re.compile(r"^---- (?P<title>.+?) stdout ----$")
_CARGO_BLOCK_END = re.compile(r"^(?:failures:|test result:)")
# Rust >= 1.73 prints the location, then the message on the following lines; older Rust quotes
# the message (possibly over several lines) before the location.
_CARGO_PANIC_NEW = re.compile(
    r"panicked at (?P<path>[^\s:']+):(?P<line>\d+):\d+:\n(?P<message>(?:.+\n?){1,3})"
)
_CARGO_PANIC_OLD = re.compile(r"panicked at '(?P<message>.*?)', (?P<path>[^\s:]+):(?P<line>\d+):\d+", re.S)
_CARGO_MESSAGE_END = re.compile(r"^(?:note:|stack backtrace:)", re.M)
_CARGO_FRAME = re.compile(r"^\s*\d+: (?P<function>\S+)\n\s+at (?P<path>[^\s:]+):(?P<line>\d+):\d+$", re.M)


def parse_cargo_test(output: str) -> list[TestFailure]:
    """``cargo test``: ``test x ... FAILED`` (``x --- FAILED`` with -q) with the panic in its
    ``---- x stdout ----`` block; with a backtrace, the test's own frame locates the test."""
    blocks = _blocks_by_header(output, _CARGO_BLOCK, _CARGO_BLOCK_END)
    names = [m["name"] or m["quiet"] for line in output.splitlines() if (m := _CARGO_FAILED.match(line))]
    failures = []
    for name in dict.fromkeys(names):
        block = blocks.get(name, "")
        panic = _CARGO_PANIC_NEW.search(block) or _CARGO_PANIC_OLD.search(block)
        message = _CARGO_MESSAGE_END.split(panic["message"])[0] if panic else "FAILED"
        frames = [
            (
                frame["function"],
                SourceLocation(path=frame["path"].removeprefix("./"), line=int(frame["line"])),
            )
            for frame in _CARGO_FRAME.finditer(block)
            if not frame["path"].startswith("/")  # the standard library's own frames
        ][::-1]
        panicked_at = [SourceLocation(path=panic["path"], line=int(panic["line"]))] if panic else []
        own = next((loc for function, loc in frames if function.endswith("::" + name)), None)
        test_place = own or (panicked_at[0] if panicked_at else None)
        failures.append(
            TestFailure(
                name=name,
                file=test_place.path if test_place else None,
                line=test_place.line if test_place else None,
                message=_clip_message(message),
                details=_clip_details(block),
                stack=[loc for _, loc in frames] or panicked_at,
                framework="cargo",
            )
        )
    return failures


_TAP_RESULT = re.compile(
    r"^(?P<indent>\s*)not ok\b(?:\s+\d+)?(?:\s*-)?\s*(?P<description>.*?)(?:\s+#\s*(?P<directive>TODO|SKIP)\b.*)?$",
    re.I,
)
_TAP_SUBTEST = re.compile(r"^(?P<indent>\s*)# Subtest: (?P<name>.+?)\s*$")
_TAP_GROUP = re.compile(r"^# (?P<name>\S.*?)\s*$")  # tape names its tests in comments
_TAP_TOTALS = re.compile(r"^(?:tests|pass|fail|skip|skipped|todo|cancelled|suites|duration_ms|ok)\b")
_TAP_YAML_KEY = re.compile(r"^(?P<key>[\w-]+):\s?(?P<value>.*)$")
_PERL_DIAG = re.compile(
    r"^#\s+Failed test (?:'(?P<name>.*?)'\n#\s+)?at (?P<file>\S+) line (?P<line>\d+)\.\n"
    r"(?P<rest>(?:#(?!\s+Failed |\s*Looks like ).*\n?)*)",
    re.M,
)


def parse_tap(output: str) -> list[TestFailure]:
    """TAP 13/14: tape (``at:`` in the YAML block), node:test's TAP reporter (``location:`` and
    ``stack:``) and Perl's prove (``#   Failed test 'x'`` / ``#   at t/x.t line 8.`` diagnostics)."""
    failures = _perl_diagnostics(output)
    diagnosed = {f.name for f in failures}
    lines = output.splitlines()
    subtests: dict[int, str] = {}  # indent -> name of the subtest open at that depth
    group: str | None = None
    for index, line in enumerate(lines):
        if not line.lstrip().startswith(("#", "not ok")):
            continue  # most lines: passing tests and diagnostics, read only after a failure
        if match := _TAP_SUBTEST.match(line):
            depth = len(match["indent"])
            subtests = {d: n for d, n in subtests.items() if d < depth} | {depth: match["name"]}
        elif (match := _TAP_GROUP.match(line)) and not _TAP_TOTALS.match(match["name"]):
            group = match["name"]
        elif (match := _TAP_RESULT.match(line)) and not match["directive"]:
            depth = len(match["indent"])
            fields, block = _tap_yaml_block(lines, index + 1, depth)
            description = match["description"]
            if fields.get("failureType") == "subtestsFailed" or description in diagnosed:
                continue  # a parent failing because a subtest did; or prove's line for a diagnosed test
            parents = [name for d, name in sorted(subtests.items()) if d < depth]
            if not parents and group and not subtests:
                parents = [group]
            failures.append(_tap_failure(" › ".join([*parents, description]), fields, block))
    return failures


def _tap_yaml_block(lines: list[str], start: int, depth: int) -> tuple[dict[str, str], str]:
    """The YAML diagnostics block (``---`` … ``...``) from ``lines[start]``, as flat fields."""
    opening = lines[start] if start < len(lines) else ""
    if opening.strip() != "---" or len(opening) - len(opening.lstrip()) < depth:
        return {}, ""
    body: list[str] = []
    for index in range(start + 1, len(lines)):
        if lines[index].strip() == "...":
            break
        body.append(lines[index])
    base = min((len(line) - len(line.lstrip()) for line in body if line.strip()), default=0)
    fields: dict[str, list[str]] = {}
    key: str | None = None
    for line in body:
        match = _TAP_YAML_KEY.match(line[base:]) if len(line) - len(line.lstrip()) == base else None
        if match:
            key, value = match["key"], match["value"].strip()
            fields[key] = [] if value in ("|", "|-", ">", ">-") else [_unquote(value)]
        elif key is not None:
            fields[key].append(line[base + 2 :])
    return {k: "\n".join(v).strip() for k, v in fields.items()}, "\n".join(body)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1].replace("''", "'")
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _tap_failure(name: str, fields: dict[str, str], block: str) -> TestFailure:
    declared = locations_in_text(fields.get("at") or fields.get("location") or "")
    stack = locations_in_text(fields.get("stack", ""))[::-1]  # printed from the frame that raised
    test_file = declared[0].path if declared else None
    in_test_file = [loc for loc in stack if loc.path == test_file]
    place = in_test_file[-1] if in_test_file else (declared[0] if declared else None)
    if "error" in fields:
        message = fields["error"]
    else:
        compared = [f"{key}: {fields[key]}" for key in ("expected", "actual") if key in fields]
        message = "\n".join([name.rsplit(" › ", 1)[-1], *compared])
    return TestFailure(
        name=name,
        suite=test_file,
        file=test_file,
        line=place.line if place else None,
        message=_clip_message(message),
        error_type=fields.get("name") if "error" in fields else None,
        details=_clip_details(block),
        stack=stack or ([place] if place else []),
        framework="tap",
    )


def _perl_diagnostics(output: str) -> list[TestFailure]:
    failures = []
    for match in _PERL_DIAG.finditer(output):
        compared = [line.lstrip("#").strip() for line in match["rest"].splitlines()]
        name = match["name"] or f"{match['file']} line {match['line']}"
        location = SourceLocation(path=match["file"], line=int(match["line"]))
        failures.append(
            TestFailure(
                name=name,
                suite=match["file"],
                file=match["file"],
                line=location.line,
                message=_clip_message("\n".join([name, *filter(None, compared)])),
                details=_clip_details(match.group(0)),
                stack=[location],
                framework="tap",
            )
        )
    return failures


_PYTEST_RUNNING = re.compile(r"^(?P<id>\S+\.py::\S+)\s*$")  # -v progress: the id, no outcome yet
_UNITTEST_RUNNING = re.compile(r"^(?P<name>\w+) \((?P<suite>[\w.]+)\)(?: \.\.\.)?\s*$")
_CARGO_RUNNING = re.compile(r"^test (?P<name>\S+) has been running for over \d+ seconds$")
_CARGO_DONE = re.compile(r"^test (?P<name>\S+) \.\.\. ")
_TAP_CLOSING = re.compile(r"^(?P<indent>\s*)(?:(?:not )?ok\b|1\.\.\d+)")  # a result, or the plan


def running_test_when_cut(output: str) -> str | None:
    """The test a run was in when it was stopped, where the runner's progress lines say so:
    pytest -v, unittest -v, go test -v, cargo test's "has been running for over 60 seconds",
    TAP's test names (tape, node:test)."""
    lines = [line.rstrip() for line in strip_ansi(output).replace("\r\n", "\n").splitlines() if line.strip()]
    if not lines:
        return None
    if match := _PYTEST_RUNNING.match(lines[-1]):
        return match["id"]
    if match := _UNITTEST_RUNNING.match(lines[-1]):
        suite = match["suite"].removesuffix("." + match["name"])
        return f"{suite}::{match['name']}"
    go_running: dict[str, None] = {}
    cargo_running: dict[str, None] = {}
    for line in lines:
        if match := _GO_EVENT.match(line):
            go_running[match["name"]] = None
        elif match := _GO_RESULT.match(line):
            go_running.pop(match["name"], None)
        elif match := _CARGO_RUNNING.match(line):
            cargo_running[match["name"]] = None
        elif match := _CARGO_DONE.match(line):
            cargo_running.pop(match["name"], None)
    still_running = [*go_running, *cargo_running]
    return still_running[-1] if still_running else _tap_running(lines)


def _tap_running(lines: list[str]) -> str | None:
    """The last test a TAP stream named (tape's ``# name``, node:test's ``# Subtest: name``, with
    the tests it is in) that no ``ok``/``not ok`` or plan line at its depth has closed since. A
    tape test counts as closed by its first assertion's line: tape prints nothing when a test ends,
    so after one the test may as well be over (and the process held open by something else)."""
    if not any(line.startswith("TAP version ") for line in lines):
        return None
    open_tests: dict[int, str] = {}  # indent -> the test open at that depth
    for line in lines:
        if match := _TAP_SUBTEST.match(line):
            depth, name = len(match["indent"]), match["name"]
        elif (match := _TAP_GROUP.match(line)) and not _TAP_TOTALS.match(match["name"]):
            depth, name = 0, match["name"]
        elif match := _TAP_CLOSING.match(line):
            depth, name = len(match["indent"]), None
        else:
            continue
        open_tests = {d: n for d, n in open_tests.items() if d < depth} | ({depth: name} if name else {})
    return " › ".join(name for _, name in sorted(open_tests.items())) or None


SUMMARY_PARSERS: tuple[Callable[[str], list[TestFailure]], ...] = (
    parse_pytest,
    parse_unittest,
    parse_jest,
    parse_vitest,
    parse_go_test,
    parse_cargo_test,
    parse_tap,
)


def parse_test_output(output: str) -> list[TestFailure]:
    """Failures any known runner reported in a command's output, merged by test id."""
    text = strip_ansi(output).replace("\r\n", "\n")
    merged: dict[tuple[str, str | None], TestFailure] = {}
    for parser in SUMMARY_PARSERS:
        for failure in parser(text):
            merged.setdefault((failure.test_id, failure.file), failure)
    return list(merged.values())
