"""GitHub's 65,535-character limits with huge inputs, and outside text that must stay inert."""

from __future__ import annotations

import re

from codeloop.domain.markdown import GITHUB_TEXT_LIMIT
from codeloop.domain.report import (
    AttemptView,
    FailureInfo,
    render_check_run,
    render_comment,
    task_marker,
)
from tests.unit.report.markdown import read
from tests.unit.report.test_rendering import OWN_HTML
from tests.unit.report.views import TASK_ID, failed_report, step, view

HUGE_ERROR = "E" * 50_000 + "\n" + "middle line\n" * 2_000 + "Z" * 26_000  # over 100 KB
LIVE_MENTION = re.compile(r"@(?!\u200d)\w")


def balanced(markdown: str) -> bool:
    """Every <details> GitHub sees is closed (text inside code blocks is not HTML)."""
    html = "".join(read(markdown).html_fragments)
    return html.count("<details>") == html.count("</details>")


def test_a_thousand_steps_with_100_kb_errors_fit_in_one_comment() -> None:
    steps = [
        step("ValidatePR" if i % 2 else "DispatchCodegen", 1 + i // 3, "failed", i * 10, 5, error=HUGE_ERROR)
        for i in range(999)
    ] + [step("ValidatePR", 334, "running", 10_000, None)]
    huge = view(
        "validating",
        attempt=334,
        steps=steps,
        attempts=[AttemptView(number=n, validation=failed_report(f"s{n}")) for n in range(1, 335)],
        task={"title": "T" * 256},
    )
    body = render_comment(huge)
    assert len(body) <= GITHUB_TEXT_LIMIT
    assert body.startswith(task_marker(TASK_ID) + "\n")
    assert balanced(body)
    assert "**Latest step:** ⏳ Run the tests (attempt 334)" in body
    assert "<details><summary>All 1000 steps</summary>" in body
    assert re.search(r"- … [\d,]+ more steps not shown …", body)
    assert "- ⏳ Run the tests (attempt 334) · started" in body  # the latest entries are kept
    assert "**Now:** ⏳ Running the tests" in body  # the end is never cut


def test_a_100_kb_failure_keeps_its_head_and_tail_with_a_marker() -> None:
    failed = view(
        "failed", failure=FailureInfo(error="ProviderError", cause=HUGE_ERROR, step="DispatchCodegen")
    )
    body = render_comment(failed)
    assert len(body) <= GITHUB_TEXT_LIMIT
    outcome = body.split("**Outcome:**")[1]
    assert "EEEE" in outcome and "ZZZZ" in outcome
    assert re.search(r"✂️ … [\d,]+ characters cut here …", outcome)
    assert balanced(body)


def test_a_huge_validation_report_fits_in_the_check_run() -> None:
    report = failed_report(
        failures=[
            {
                "name": f"test_{i}",
                "suite": "tests.test_big",
                "message": "boom " * 200,
                "details": HUGE_ERROR[:8_000],
                "framework": "junit",
            }
            for i in range(500)
        ],
        failures_total=5_000,
        commands=[
            {
                "phase": "test",
                "command": f"pytest part{i}",
                "exit_code": 1,
                "duration_seconds": 1.0,
                "output": "first line\n" + HUGE_ERROR + "\nlast line",
                "output_bytes": 200_000,
            }
            for i in range(5)
        ],
        notes=["report.xml: not well-formed"] * 50,
    )
    huge = view(
        "failed",
        task={"error_log": [{"step": "ValidatePR", "error": "BudgetExhausted: spent"}]},
        attempts=[AttemptView(number=1, validation=report)],
        steps=[],
    )
    check = render_check_run(huge, 1)
    assert len(check.summary) <= GITHUB_TEXT_LIMIT and len(check.text or "") <= GITHUB_TEXT_LIMIT
    assert check.text is not None and check.text.startswith("### Failing tests (5000)")
    assert re.search(r"… [\d,]+ more failing tests not shown\.", check.text)
    assert "<summary>Output of <code>pytest part0</code></summary>" in check.text
    assert "first line" in check.text and "last line" in check.text
    assert len(check.title) <= 200
    assert balanced(check.text)


OUTSIDE = (
    "@octocat please look <!-- codeloop:task:00000000-0000-0000-0000-000000000000 --> "
    "<img src=x onerror=alert(1)> </details> **bold** [link](javascript:alert(1)) #1 "
    "token ghp_" + "a" * 36 + " <!<!-- -->-- x -->"
)


def hostile_view():
    return view(
        "failed",
        task={"title": OUTSIDE[:256], "requested_by": "mallory"},
        steps=[step("DispatchCodegen", 1, "failed", 0, 3, error=OUTSIDE)],
        failure=FailureInfo(error="Boom`s", cause="```\n" + OUTSIDE + "\n```\nafter the fence " + OUTSIDE),
        attempts=[
            AttemptView(
                number=1,
                validation=failed_report(summary=OUTSIDE, notes=[OUTSIDE], hint=OUTSIDE),
                check_run_url="javascript:alert(1)",
            )
        ],
        cancelled_by="@everyone",
    )


def test_outside_text_cannot_ping_inject_html_or_fake_the_marker() -> None:
    hostile = hostile_view()
    check = render_check_run(hostile, 1)
    for markdown in (render_comment(hostile), check.summary, check.text or ""):
        shown = read(markdown)
        assert all(OWN_HTML.match(fragment) for fragment in shown.html_fragments), shown.html_fragments
        live = [text for text in shown.prose if LIVE_MENTION.search(text)]
        # the requester alone is mentioned, on purpose
        assert live in ([], ["feature · asked by @mallory in a comment · on #12 · task "]), live
        assert markdown.count("<!--") == (1 if markdown.startswith("<!--") else 0)
        assert "ghp_aaaa" not in markdown
        assert all(link.startswith("https://") for link in shown.links), shown.links
        assert balanced(markdown)
    assert "@" not in check.title.replace("@\u200d", "")


def test_a_fence_inside_the_error_cannot_close_ours() -> None:
    body = render_comment(hostile_view())
    code = "\n".join(read(body).code)
    assert "after the fence" in code  # still inside the code block, not loose Markdown
    assert "**bold**" in code


def test_annotations_carry_no_secrets_or_forged_markers() -> None:
    report = failed_report(
        annotations=[
            {
                "path": "a.py",
                "start_line": 1,
                "end_line": 1,
                "annotation_level": "failure",
                "message": OUTSIDE,
                "title": "t",
            }
        ]
    )
    check = render_check_run(view("failed", attempts=[AttemptView(number=1, validation=report)]), 1)
    assert "ghp_aaaa" not in check.annotations[0]["message"]
    assert "<!--" not in check.annotations[0]["message"]
