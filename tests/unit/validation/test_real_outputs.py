"""Annotations and signatures from the real outputs of eight runners (tests/fixtures/test_outputs,
whose README says how each was made). Each run used its own temporary folder, named here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from codeloop.domain.test_results import (
    JUnitError,
    TestFailure,
    parse_junit_xml,
    parse_test_output,
    running_test_when_cut,
    strip_ansi,
)
from codeloop.domain.validation import (
    LINE_NOT_KNOWN,
    CommandResult,
    RepoPaths,
    ValidationReport,
    annotations_for,
    build_report,
    failure_signature,
)

OUTPUTS = Path(__file__).resolve().parents[2] / "fixtures" / "test_outputs"
SHA = "c" * 40

PYTHON_FILES = [
    "mathx/__init__.py",
    "tests/__init__.py",
    "tests/test_mathx.py",
    "tests/test_pt.py",
    "pytest.ini",
]
JS_FILES = [
    "package.json",
    "lib.js",
    "test/bool.js",
    "test/num.js",
    "test/lib.test.js",
    "src/calc.js",
    "src/calc.test.js",
]
GO_FILES = ["go.mod", "calc.go", "calc_test.go"]
RUST_FILES = ["Cargo.toml", "src/lib.rs"]


def checkout(run: str) -> str:
    return f"/tmp/fx/{run}/checkout"


def text(name: str) -> str:
    return (OUTPUTS / name).read_text()


def failed_command(output: str = "", *, timed_out: bool = False) -> CommandResult:
    return CommandResult(
        phase="test",
        command="run the tests",
        exit_code=None if timed_out else 1,
        timed_out=timed_out,
        duration_seconds=20.0,
        output=output,
        output_bytes=len(output),
    )


def report(
    failures: list[TestFailure], run: str | None, files: list[str], output: str = ""
) -> ValidationReport:
    return build_report(
        head_sha=SHA,
        commands=[failed_command(output)],
        failures=failures,
        results_source="output",
        changed_paths=set(),
        repo_files=files,
        checkout_root=checkout(run) if run else None,
    )


def placed(report: ValidationReport) -> list[tuple[str, int, str, str]]:
    return [(a.path, a.start_line, a.title or "", a.message) for a in report.annotations]


DOCTEST_REPORT = "Failed example:\n    add(2, 2)\nExpected:\n    5\nGot:\n    4"


# -- each runner: file, line and message of its annotations -----------------------------------


def test_pytest_q_with_colour_and_doctests():
    output = text("pytest/run-7f3a9c-q.txt")
    result = report(parse_test_output(output), "run-7f3a9c", PYTHON_FILES, output)
    assert placed(result) == [
        ("mathx/__init__.py", 9, "mathx/__init__.py::mathx.add failed", DOCTEST_REPORT),
        ("tests/test_pt.py", 5, "tests/test_pt.py::test_add failed", "assert 3 == 4"),
        (
            "tests/test_pt.py",
            9,
            "tests/test_pt.py::test_mean_empty failed",
            "ZeroDivisionError: division by zero",
        ),
        (
            "mathx/__init__.py",
            16,
            "tests/test_pt.py::test_mean_empty failed here",
            "ZeroDivisionError: division by zero",
        ),
        (
            "tests/test_pt.py",
            13,
            "tests/test_pt.py::test_money failed",
            "AssertionError: assert '1,234,567' == '1,234,567.00'",
        ),
    ]
    assert all("/tmp/fx" not in f.details and "\x1b" not in f.details for f in result.failures)


def test_pytest_junit_with_escaped_colour_codes_and_a_doctest():
    failures = parse_junit_xml((OUTPUTS / "pytest/run-7f3a9c-junit.xml").read_bytes())
    result = report(failures, "run-7f3a9c", PYTHON_FILES)
    assert [(path, line, title) for path, line, title, _ in placed(result)] == [
        ("mathx/__init__.py", 9, "mathx.__init__::mathx.add failed"),
        ("tests/test_pt.py", 5, "tests.test_pt::test_add failed"),
        ("tests/test_pt.py", 9, "tests.test_pt::test_mean_empty failed"),
        ("mathx/__init__.py", 16, "tests.test_pt::test_mean_empty failed here"),
        ("tests/test_pt.py", 13, "tests.test_pt::test_money failed"),
    ]
    assert result.annotations[0].message == DOCTEST_REPORT
    assert result.annotations[4].message == (
        "AssertionError: assert '1,234,567' == '1,234,567.00'\n  \n  - 1,234,567.00\n  ?          ---\n  + 1,234,567"
    )
    assert "#x1B" in (OUTPUTS / "pytest/run-7f3a9c-junit.xml").read_text()  # what the fixture holds
    assert not any("#x1B" in f.message or "#x1B" in f.details for f in result.failures)


def test_unittest_with_a_doctest_points_at_the_failing_example():
    output = text("unittest/run-7f3a9c.txt")
    result = report(parse_test_output(output), "run-7f3a9c", PYTHON_FILES, output)
    assert placed(result) == [
        (
            "tests/test_mathx.py",
            13,
            "tests.test_mathx.TestMathx::test_mean_empty errored",
            "ZeroDivisionError: division by zero",
        ),
        (
            "mathx/__init__.py",
            16,
            "tests.test_mathx.TestMathx::test_mean_empty errored here",
            "ZeroDivisionError: division by zero",
        ),
        ("tests/test_mathx.py", 10, "tests.test_mathx.TestMathx::test_add failed", "AssertionError: 3 != 4"),
        ("mathx/__init__.py", 9, "mathx::add failed", DOCTEST_REPORT),  # the example, not the def (line 4)
    ]
    doctest = result.failures[2]
    assert doctest.file == "mathx/__init__.py" and "/tmp/" not in doctest.details


def test_jest_junit_gives_the_test_and_the_library_line_that_threw():
    failures = parse_junit_xml((OUTPUTS / "jest/jest-junit.xml").read_bytes())
    result = report(failures, "jest-c2d4", JS_FILES)
    assert placed(result) == [
        (
            "src/calc.test.js",
            5,
            "src/calc.test.js::calc adds failed",
            "Error: expect(received).toBe(expected) // Object.is equality",
        ),
        (
            "src/calc.test.js",
            9,
            "src/calc.test.js::calc divides failed",
            "RangeError: cannot divide 6 by zero",
        ),
        (
            "src/calc.js",
            7,
            "src/calc.test.js::calc divides failed here",
            "RangeError: cannot divide 6 by zero",
        ),
    ]


def test_jest_console_output_gives_the_same_places():
    output = text("jest/jest.txt")
    result = report(parse_test_output(output), "jest-c2d4", JS_FILES, output)
    assert [(path, line) for path, line, _, _ in placed(result)] == [
        ("src/calc.test.js", 5),
        ("src/calc.test.js", 9),
        ("src/calc.js", 7),
    ]


@pytest.mark.parametrize(
    ("fixture", "run", "expected"),
    [
        (
            "tape/tape-1c9e.txt",
            "tape-1c9e",
            (
                "test/bool.js",
                6,
                "test/bool.js::isTrue › one is true failed",
                "one is true\nexpected: true\nactual: false",
            ),
        ),
        (
            "tape/tape-9a41.txt",
            "tape-9a41",
            (
                "test/num.js",
                6,
                "test/num.js::add › should be strictly equal failed",
                "should be strictly equal\nexpected: 5\nactual: 4",
            ),
        ),
    ],
)
def test_tape_tap_is_located_through_its_at_line(fixture: str, run: str, expected: tuple):
    output = text(fixture)
    result = report(parse_test_output(output), run, JS_FILES, output)
    assert placed(result) == [expected]  # node_modules/tape frames are not the repository's


def test_node_test_tap_reporter_with_subtests():
    output = text("node_test/node-test-tap.txt")
    result = report(parse_test_output(output), "node-3e7b", JS_FILES, output)
    assert placed(result) == [
        (
            "test/lib.test.js",
            6,
            "test/lib.test.js::add failed",
            "Expected values to be strictly equal:\n\n3 !== 4",
        ),
        ("test/lib.test.js", 14, "test/lib.test.js::parse › empty failed", 'empty input: ""'),
        ("lib.js", 2, "test/lib.test.js::parse › empty failed here", 'empty input: ""'),
    ]  # "parse" itself failed only because its subtest did: not reported
    assert [f.error_type for f in result.failures] == ["AssertionError", "TypeError"]


@pytest.mark.parametrize("fixture", ["prove/prove.txt", "prove/prove-v.txt"])
def test_prove_diagnostics_give_file_and_line(fixture: str):
    output = text(fixture)
    result = report(parse_test_output(output), None, ["t/basic.t"], output)
    assert placed(result) == [
        ("t/basic.t", 8, "t/basic.t::one plus two failed", "one plus two\ngot: '3'\nexpected: '4'"),
        (
            "t/basic.t",
            9,
            "t/basic.t::in a list failed",
            "in a list\nStructures begin differing at:\n$got->[0] = '4'\n$expected->[0] = '5'",
        ),
    ]


def test_go_test_verbose():
    output = text("go/go-test-v.txt")
    result = report(parse_test_output(output), "go-44aa", GO_FILES, output)
    assert placed(result) == [
        ("calc_test.go", 7, "example.com/calc::TestAdd failed", "Add(1, 2) = 3, want 4"),
        ("calc_test.go", 15, "example.com/calc::TestTable/big failed", "Add(1000, 1) = 1001, want 1002"),
    ]


def test_cargo_test_without_a_backtrace_has_only_the_panic():
    output = text("cargo/cargo-test.txt")
    result = report(parse_test_output(output), None, RUST_FILES, output)
    assert placed(result) == [
        ("src/lib.rs", 15, "tests::adds failed", "assertion `left == right` failed\n  left: 3\n right: 4"),
        ("src/lib.rs", 6, "tests::parses failed", "not a number: ParseIntError { kind: InvalidDigit }"),
    ]


def test_cargo_test_quiet_with_a_backtrace_gives_the_test_and_the_panic():
    output = text("cargo/cargo-test-q-backtrace.txt")
    result = report(parse_test_output(output), None, RUST_FILES, output)
    assert placed(result) == [
        ("src/lib.rs", 15, "tests::adds failed", "assertion `left == right` failed\n  left: 3\n right: 4"),
        ("src/lib.rs", 20, "tests::parses failed", "not a number: ParseIntError { kind: InvalidDigit }"),
        ("src/lib.rs", 6, "tests::parses failed here", "not a number: ParseIntError { kind: InvalidDigit }"),
    ]


# -- what is never silently guessed, and never sent twice ------------------------------------


def test_a_test_whose_line_is_not_known_is_annotated_on_its_file_and_says_so():
    cut = TestFailure(
        name="test_add", suite="tests.test_mathx.TestMathx", message="3 != 4", framework="unittest"
    )
    [annotation] = annotations_for([cut], RepoPaths(PYTHON_FILES), changed_paths=set())
    assert (annotation.path, annotation.start_line) == ("tests/test_mathx.py", 1)
    assert annotation.title == "tests.test_mathx.TestMathx::test_add failed (line not known)"
    assert annotation.message == f"{LINE_NOT_KNOWN}\n\n3 != 4"


def test_the_same_failure_reported_twice_is_annotated_once():
    output = text("unittest/run-7f3a9c.txt")
    failures = parse_test_output(output)
    once = report(failures, "run-7f3a9c", PYTHON_FILES).annotations
    assert report([*failures, *failures], "run-7f3a9c", PYTHON_FILES).annotations == once


# -- runs stopped at their time limit --------------------------------------------------------


def test_a_timed_out_pytest_verbose_run_names_the_test_it_was_in():
    output = text("pytest/pytest-v-timeout.txt")
    assert running_test_when_cut(output) == "tests/test_hang.py::test_waits_forever"
    assert failed_command(output, timed_out=True).describe() == (
        "`run the tests` hit its time limit after 20 s, while running tests/test_hang.py::test_waits_forever"
    )


def test_running_test_from_go_unittest_and_cargo_progress_lines():
    go = text("go/go-test-v.txt").split("--- FAIL: TestTable")[0]  # cut while TestTable/big ran
    assert running_test_when_cut(go) == "TestTable/big"
    assert running_test_when_cut("test_add (tests.test_mathx.TestMathx.test_add) ... ") == (
        "tests.test_mathx.TestMathx::test_add"
    )
    cargo = (
        "running 2 tests\ntest tests::adds ... ok\ntest tests::spins has been running for over 60 seconds\n"
    )
    assert running_test_when_cut(cargo) == "tests::spins"
    assert running_test_when_cut(text("cargo/cargo-test.txt")) is None


def test_a_timed_out_tap_run_names_the_test_no_result_has_closed():
    # tape printed the test's name and nothing after: it was still in it
    assert running_test_when_cut(text("tape/tape-timeout.txt")) == "server answers"
    # node:test: "starts" was closed by its ok line, its parent "server" never was
    assert running_test_when_cut(text("node_test/node-test-tap-timeout.txt")) == "server"
    # tape prints nothing when a test ends: after an assertion, the test may be over
    assert running_test_when_cut(text("tape/tape-timeout-after-assert.txt")) is None
    for finished in ("tape/tape-1c9e.txt", "node_test/node-test-tap.txt"):
        assert running_test_when_cut(text(finished)) is None
    assert running_test_when_cut("# not a TAP stream\n") is None
    assert failed_command(text("tape/tape-timeout.txt"), timed_out=True).describe() == (
        "`run the tests` hit its time limit after 20 s, while running server answers"
    )


def test_a_junit_file_cut_inside_a_case_names_the_test_in_the_timeout_and_its_signature():
    def cut_in(test: str) -> CommandResult:
        return failed_command("", timed_out=True).model_copy(update={"junit_open_test": test})

    assert cut_in("src/calc.test.js::calc divides").describe() == (
        "`run the tests` hit its time limit after 20 s, while running src/calc.test.js::calc divides"
    )
    assert failure_signature([], [cut_in("src/calc.test.js::calc divides")]) != failure_signature(
        [], [cut_in("src/calc.test.js::calc adds")]
    )


def test_a_junit_file_cut_inside_a_test_case_names_that_test():
    document = (OUTPUTS / "jest/jest-junit.xml").read_bytes()
    cut = document[: document.index(b"RangeError")]
    with pytest.raises(
        JUnitError, match=re.escape("ends inside test src/calc.test.js::calc divides")
    ) as raised:
        parse_junit_xml(cut)
    assert raised.value.open_test == "src/calc.test.js::calc divides"


def test_the_signature_of_a_timeout_depends_on_the_test_that_hung():
    output = text("pytest/pytest-v-timeout.txt")
    other = output.replace("test_waits_forever", "test_after")
    assert failure_signature([], [failed_command(output, timed_out=True)]) != failure_signature(
        [], [failed_command(other, timed_out=True)]
    )


# -- signatures: different failures differ, the same failure repeats -------------------------


def signature_of(fixture: str, run: str, files: list[str]) -> str | None:
    output = text(fixture)
    failures = (
        parse_junit_xml((OUTPUTS / fixture).read_bytes())
        if fixture.endswith(".xml")
        else parse_test_output(output)
    )
    return report(failures, run, files, output).failure_signature


@pytest.mark.parametrize(
    ("runner", "files"),
    [
        ("pytest/{}-q.txt", PYTHON_FILES),
        ("pytest/{}-junit.xml", PYTHON_FILES),
        ("unittest/{}.txt", PYTHON_FILES),
    ],
)
def test_python_runs_in_other_folders_at_other_times_repeat_and_3_4_differs_from_3_5(runner: str, files):
    first = signature_of(runner.format("run-7f3a9c"), "run-7f3a9c", files)
    again = signature_of(runner.format("run-b81e02"), "run-b81e02", files)  # other folder, time, addresses
    other = signature_of(runner.format("run-e5c6"), "run-e5c6", files)  # 3 != 5 instead of 3 != 4
    assert first == again
    assert other != first


def test_tape_failures_in_two_files_differ_and_the_same_one_repeats():
    bool_failure = signature_of("tape/tape-1c9e.txt", "tape-1c9e", JS_FILES)
    again_elsewhere = signature_of("tape/tape-58d0.txt", "tape-58d0", JS_FILES)
    num_failure = signature_of("tape/tape-9a41.txt", "tape-9a41", JS_FILES)
    assert bool_failure == again_elsewhere
    assert num_failure != bool_failure


def test_unparsed_output_signs_with_its_error_lines_not_its_tail():
    def unparsed(fixture: str, run: str) -> str:
        return failure_signature([], [failed_command(text(fixture))], checkout(run))

    assert unparsed("tape/tape-1c9e.txt", "tape-1c9e") == unparsed("tape/tape-58d0.txt", "tape-58d0")
    assert unparsed("tape/tape-9a41.txt", "tape-9a41") != unparsed("tape/tape-1c9e.txt", "tape-1c9e")


def test_the_fixtures_really_differ_where_the_signatures_must_not():
    first, again = text("pytest/run-7f3a9c-q.txt"), text("pytest/run-b81e02-q.txt")
    assert first != again and "/tmp/fx/run-b81e02/checkout" in again
    assert strip_ansi(first).splitlines()[-1] != strip_ansi(again).splitlines()[-1]  # its duration


def test_a_commands_output_names_repository_paths_not_the_checkouts_folder():
    """Paths are made relative to the checkout everywhere: the command's output in the report (and so
    the check run and the fix prompt's log tail), as the failures already were."""
    output = f"{checkout('r1')}/tests/test_a.py:3: in test_a\n    assert add(1, 2) == 4\nE   assert 3 == 4\n"
    made = report([], "r1", ["tests/test_a.py"], output=output)
    assert made.commands[0].output.startswith("tests/test_a.py:3: in test_a")
    assert "/tmp/fx" not in made.model_dump_json()
