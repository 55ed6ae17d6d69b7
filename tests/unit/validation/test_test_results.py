"""Parsers of test results, on real outputs (pytest, unittest, cargo were produced by running them;
jest, vitest and go test are transcribed from their documented formats)."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeloop.domain.test_results import (
    JUnitError,
    SourceLocation,
    locations_in_text,
    parse_cargo_test,
    parse_go_test,
    parse_jest,
    parse_junit_chunks,
    parse_junit_xml,
    parse_pytest,
    parse_test_output,
    parse_unittest,
    parse_vitest,
)

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> str:
    return (SAMPLES / name).read_text()


def summary(failures) -> list[tuple[str, str | None, int | None, str]]:
    return [(f.test_id, f.file, f.line, f.kind) for f in failures]


# -- JUnit -----------------------------------------------------------------------------------


def test_pytest_junit_xunit1_has_file_and_the_failing_line_from_the_traceback():
    failures = parse_junit_xml((SAMPLES / "pytest-xunit1.xml").read_bytes())
    assert summary(failures) == [
        ("tests.test_calc::test_add_two", "tests/test_calc.py", 10, "failure"),
        ("tests.test_calc.TestCalc::test_param[2-3-5]", "tests/test_calc.py", 16, "failure"),
        ("tests.test_calc.TestCalc::test_raises", "tests/test_calc.py", 19, "failure"),
        ("tests.test_fixture::test_uses_broken", "tests/test_fixture.py", 6, "error"),
    ]
    assert failures[0].message == "assert 5 == 4\n +  where 5 = add(2, 2)"
    assert "tests/test_calc.py:10: AssertionError" in failures[0].details
    assert all(f.framework == "junit" for f in failures)


def test_pytest_junit_xunit2_has_no_file_but_keeps_the_traceback_for_locating():
    failures = parse_junit_xml((SAMPLES / "pytest-xunit2.xml").read_bytes())
    assert [f.test_id for f in failures] == [
        "tests.test_calc::test_add_two",
        "tests.test_calc.TestCalc::test_param[2-3-5]",
        "tests.test_calc.TestCalc::test_raises",
    ]
    assert [f.file for f in failures] == [None, None, None]
    assert SourceLocation(path="tests/test_calc.py", line=16) in locations_in_text(failures[1].details)


def test_surefire_failure_and_error():
    failures = parse_junit_xml((SAMPLES / "surefire.xml").read_bytes())
    assert summary(failures) == [
        ("com.example.CalculatorTest::addsNumbers", None, None, "failure"),
        ("com.example.CalculatorTest::divides", None, None, "error"),
    ]
    assert failures[0].message == "expected: <4> but was: <5>"
    assert "CalculatorTest.java:14" in failures[0].details


def test_jest_junit_without_message_takes_the_first_line_and_does_not_repeat_the_title():
    [failure] = parse_junit_xml((SAMPLES / "jest-junit.xml").read_bytes())
    assert failure.test_id == "src/sum.test.js::sum adds 1 + 2 to equal 3"
    assert (failure.file, failure.line) == ("src/sum.test.js", 7)
    assert failure.message == "Error: expect(received).toBe(expected) // Object.is equality"


def test_junit_parsed_in_arbitrary_chunks_gives_the_same_result():
    data = (SAMPLES / "pytest-xunit1.xml").read_bytes()
    whole = parse_junit_xml(data)
    pieces = [data[i : i + 7] for i in range(0, len(data), 7)]
    assert parse_junit_chunks(pieces) == whole


def test_junit_with_a_doctype_is_refused_so_entities_never_expand():
    billion_laughs = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<testsuite><testcase name="x"><failure message="&lol2;"/></testcase></testsuite>"""
    with pytest.raises(JUnitError, match="DOCTYPE"):
        parse_junit_xml(billion_laughs)


def test_junit_external_entity_is_refused():
    xxe = b"""<?xml version="1.0"?>
<!DOCTYPE t [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<testsuite><testcase name="x"><failure>&secret;</failure></testcase></testsuite>"""
    with pytest.raises(JUnitError):
        parse_junit_xml(xxe)


def test_malformed_junit_names_the_line():
    with pytest.raises(JUnitError, match="line 2"):
        parse_junit_xml(b"<testsuite>\n<testcase name='x'></testsuite>")


def test_junit_with_generic_message_uses_the_text():
    xml = b"""<testsuites><testsuite name="example.com/calc">
<testcase classname="example.com/calc" name="TestAdd" time="0.00">
<failure message="Failed" type="">=== RUN   TestAdd
    calc_test.go:12: Add(2, 2) = 5; want 4
--- FAIL: TestAdd (0.00s)</failure></testcase></testsuite></testsuites>"""
    [failure] = parse_junit_xml(xml)
    assert failure.message == "=== RUN   TestAdd"
    assert failure.suite == "example.com/calc"
    assert SourceLocation(path="calc_test.go", line=12) in locations_in_text(failure.details)


# -- summary lines ---------------------------------------------------------------------------


def test_pytest_summary_lines_located_through_the_failure_sections():
    failures = parse_pytest(sample("pytest.txt"))
    assert summary(failures) == [
        ("tests/test_calc.py::test_add_two", "tests/test_calc.py", 10, "failure"),
        ("tests/test_calc.py::TestCalc::test_param[2-3-5]", "tests/test_calc.py", 16, "failure"),
        ("tests/test_calc.py::TestCalc::test_raises", "tests/test_calc.py", 19, "failure"),
        ("tests/test_fixture.py::test_uses_broken", "tests/test_fixture.py", 6, "error"),
    ]
    assert failures[1].message == "assert 6 == 5"
    assert "E       assert 6 == 5" in failures[1].details


def test_unittest_sections():
    failures = parse_unittest(sample("unittest.txt"))
    assert summary(failures) == [
        ("test_calc.TestCalc::test_error", "/tmp/helperA/ut/test_calc.py", 16, "error"),
        ("test_calc.TestCalc::test_add_two", "/tmp/helperA/ut/test_calc.py", 13, "failure"),
    ]
    assert [f.message for f in failures] == ["KeyError: 'missing'", "AssertionError: 5 != 4"]


def test_jest_blocks_including_a_suite_that_failed_to_run():
    failures = parse_jest(sample("jest.txt"))
    assert summary(failures) == [
        ("src/sum.test.js::sum › adds 1 + 2 to equal 3", "src/sum.test.js", 7, "failure"),
        ("src/api/client.test.ts::Test suite failed to run", "src/api/client.test.ts", 2, "failure"),
    ]
    assert failures[0].message == "expect(received).toBe(expected) // Object.is equality"
    assert failures[1].message == "Cannot find module './missing' from 'src/api/client.test.ts'"


def test_vitest_block():
    [failure] = parse_vitest(sample("vitest.txt"))
    assert summary([failure]) == [
        ("src/sum.test.ts::sum > adds 1 + 2 to equal 3", "src/sum.test.ts", 6, "failure"),
    ]
    assert failure.message == "AssertionError: expected 4 to be 3 // Object.is equality"


def test_go_test_reports_subtests_not_their_parents_and_knows_each_package():
    failures = parse_go_test(sample("go.txt"))
    assert summary(failures) == [
        ("example.com/calc::TestAdd", "calc_test.go", 12, "failure"),
        ("example.com/calc::TestTable/negative", "calc_test.go", 25, "failure"),
        ("example.com/calc/parser::TestParse", "parse_test.go", 9, "failure"),
    ]
    assert failures[1].message == "Add(-1, -1) = -1; want -2"
    assert "inputs were read from testdata/neg.txt" in failures[1].details


def test_go_test_verbose_attaches_logs_to_the_running_test_only():
    [failure] = parse_go_test(sample("go-verbose.txt"))
    assert summary([failure]) == [("example.com/calc::TestAdd", "calc_test.go", 12, "failure")]
    assert "passing log line" not in failure.details


def test_cargo_test_new_panic_format():
    failures = parse_cargo_test(sample("cargo.txt"))
    assert summary(failures) == [
        ("tests::it_adds_two", "src/lib.rs", 17, "failure"),
        ("tests::it_panics_with_message", "src/lib.rs", 22, "failure"),
    ]
    assert failures[0].message == "assertion `left == right` failed\n  left: 5\n right: 4"
    assert failures[1].message == "value 42 out of range"


def test_cargo_test_old_panic_format_with_a_multi_line_message():
    output = """running 1 test
test tests::it_adds ... FAILED

failures:

---- tests::it_adds stdout ----
thread 'tests::it_adds' panicked at 'assertion failed: `(left == right)`
  left: `5`,
 right: `4`', src/lib.rs:17:9
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace


failures:
    tests::it_adds

test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out
"""
    [failure] = parse_cargo_test(output)
    assert (failure.file, failure.line) == ("src/lib.rs", 17)
    assert failure.message == "assertion failed: `(left == right)`\n  left: `5`,\n right: `4`"


@pytest.mark.parametrize(
    ("name", "framework", "count"),
    [
        ("pytest.txt", "pytest", 4),
        ("unittest.txt", "unittest", 2),
        ("jest.txt", "jest", 2),
        ("vitest.txt", "vitest", 1),
        ("go.txt", "go", 3),
        ("cargo.txt", "cargo", 2),
    ],
)
def test_each_output_is_recognised_by_its_own_parser_only(name: str, framework: str, count: int):
    failures = parse_test_output(sample(name))
    assert [f.framework for f in failures] == [framework] * count


def test_colour_codes_and_crlf_do_not_hide_failures():
    coloured = sample("pytest.txt").replace("FAILED ", "\x1b[31mFAILED\x1b[0m ").replace("\n", "\r\n")
    assert [f.test_id for f in parse_test_output(coloured)] == [
        f.test_id for f in parse_pytest(sample("pytest.txt"))
    ]


def test_passing_output_has_no_failures():
    assert parse_test_output("....\n4 passed in 0.01s\nok  \texample.com/calc\t0.002s\n") == []


def test_locations_in_text_handles_the_common_trace_shapes():
    text = """  File "/srv/app/calc.py", line 4, in add
tests/test_calc.py:10: AssertionError
    at Object.toBe (src/sum.test.js:7:23)
	at com.example.CalculatorTest.addsNumbers(CalculatorTest.java:14)
thread 'x' panicked at src/lib.rs:17:9:
    calc_test.go:12: want 4
version 1.2.3 is not a location"""
    assert locations_in_text(text) == [
        SourceLocation(path="/srv/app/calc.py", line=4),
        SourceLocation(path="tests/test_calc.py", line=10),
        SourceLocation(path="src/sum.test.js", line=7),
        SourceLocation(path="CalculatorTest.java", line=14),
        SourceLocation(path="src/lib.rs", line=17),
        SourceLocation(path="calc_test.go", line=12),
    ]
