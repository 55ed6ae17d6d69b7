"""The context budget: never exceeded, cut at line boundaries, lowest priorities first, the task
itself never cut, and every cut recorded in the manifest and marked in the text."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codeloop.domain.prompt_context import (
    PIECE_KINDS,
    ContextPiece,
    FileText,
    fit_context,
)
from codeloop.domain.prompts import AvailableTemplate, build_prompt
from codeloop.domain.untrusted import clean, neutralise_fences
from codeloop.services.prompting.templates import load_templates
from tests.unit.prompts.fixture_tasks import failing_checks_task, issue_task, repo_config

FENCE_BLOCK = re.compile(
    r'<untrusted-data id="(?P<id>[0-9a-f]{16})" source="(?P<source>[^"\n]*)">\n(?P<body>.*?)\n'
    r'</untrusted-data id="(?P=id)">',
    re.DOTALL,
)
MARKER = re.compile(r"… \[cut: ([\d,]+) chars of (.+?) omitted to fit the context budget\]")

lines = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs",), blacklist_characters="\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
    ),
    max_size=80,
)
contents = st.lists(lines, min_size=1, max_size=40).map("\n".join)
pieces = st.lists(
    st.tuples(st.sampled_from(sorted(PIECE_KINDS)), contents),
    min_size=1,
    max_size=8,
).map(
    lambda items: [
        ContextPiece.of(kind, text, name=f"{kind}:{i}", title=f"{PIECE_KINDS[kind].title} {i}")
        for i, (kind, text) in enumerate(items)
    ]
)
budgets = st.integers(min_value=0, max_value=6_000)


def clean_body(piece: ContextPiece) -> str:
    return neutralise_fences(clean(piece.content).text.strip("\n"))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(pieces=pieces, budget=budgets)
def test_never_over_budget_and_the_manifest_adds_up(pieces: list[ContextPiece], budget: int) -> None:
    fitted = fit_context(pieces, budget)

    assert len(fitted.text) <= budget
    assert fitted.manifest.used == len(fitted.text)
    for report in fitted.manifest.pieces:
        whole = report.original_chars if report.clean_chars is None else report.clean_chars
        assert report.kept_chars + report.cut_chars == whole
        assert (report.status == "full") == (report.cut_chars == 0)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(pieces=pieces, budget=budgets)
def test_kept_text_is_whole_lines_from_the_kept_end(pieces: list[ContextPiece], budget: int) -> None:
    fitted = fit_context(pieces, budget)
    by_title = {p.title: p for p in pieces}
    reports = {r.title: r for r in fitted.manifest.pieces}

    for block in FENCE_BLOCK.finditer(fitted.text):
        piece = by_title[block.group("source")]
        body, whole = block.group("body"), clean_body(piece)
        assert len(body) == reports[piece.title].kept_chars
        if body == whole:
            continue
        if piece.keep == "head":
            assert whole.startswith(body) and whole[len(body)] == "\n"
        else:
            assert whole.endswith(body) and whole[-len(body) - 1] == "\n"


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(pieces=pieces, budget=budgets)
def test_every_cut_that_shows_is_marked_with_its_size(pieces: list[ContextPiece], budget: int) -> None:
    fitted = fit_context(pieces, budget)
    markers = {title: int(count.replace(",", "")) for count, title in MARKER.findall(fitted.text)}

    for report in fitted.manifest.pieces:
        if report.status != "full" and report.rendered_chars:
            assert markers[report.title] == report.cut_chars
        if report.status == "full":
            assert report.title not in markers


def test_lower_priorities_are_cut_first() -> None:
    lines_of = "\n".join(f"line {n:04d} " + "x" * 40 for n in range(200))  # ~10 KB each
    pieces = [ContextPiece.of(kind, lines_of) for kind in ("file_tree", "readme", "diff", "annotations")]
    fitted = fit_context(pieces, 25_000)
    status = {r.name: r.status for r in fitted.manifest.pieces}

    assert status["annotations"] == "full"
    assert status["diff"] == "full"
    assert status["readme"] == "cut"
    assert status["file_tree"] == "omitted"
    assert len(fitted.text) <= 25_000


def test_logs_keep_their_tail() -> None:
    log = "\n".join(f"step {n}" for n in range(1000)) + "\nFAILED test_the_thing - assert 1 == 2"
    fitted = fit_context([ContextPiece.of("failure", log, name="failure:1")], 800)
    assert fitted.text.rstrip().endswith(
        'FAILED test_the_thing - assert 1 == 2\n</untrusted-data id="'
        + FENCE_BLOCK.search(fitted.text).group("id")
        + '">'
    )
    assert "step 0\n" not in fitted.text


TEMPLATES = [AvailableTemplate(template=t, version=1) for t in load_templates()]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(budget=st.integers(min_value=1, max_value=3_000), filler=st.integers(min_value=0, max_value=400))
def test_the_task_criteria_and_validation_commands_are_never_cut(budget: int, filler: int) -> None:
    base = failing_checks_task()
    big = "\n".join(f"def function_{n}(): return {n}" for n in range(filler))
    inputs = base.model_copy(
        update={"files": [FileText(path="big.py", content=big), *base.files], "diff": big}
    )
    config = repo_config()
    prompt = build_prompt(TEMPLATES, inputs, config, max_context_chars=budget)

    assert prompt.sizes.context_chars <= budget
    assert prompt.manifest.used == prompt.sizes.context_chars
    assert "> Make the checks pass." in prompt.text
    assert "This is a pretty simple change that we need to pull into master." in prompt.text
    for command in [*config.validation.setup, *config.validation.test]:
        assert f"\n{command}\n" in prompt.text
    assert "Every check that failed now passes" in prompt.text


def test_acceptance_criteria_survive_a_tiny_budget() -> None:
    prompt = build_prompt(TEMPLATES, issue_task("feature"), repo_config(), max_context_chars=1)
    assert "- The README spells 'commit' correctly." in prompt.text
    assert prompt.sizes.context_chars == 0
    assert {r.status for r in prompt.manifest.pieces} == {"omitted"}


def test_the_repository_budget_overrides_the_service_budget() -> None:
    config = repo_config().model_copy(update={"max_context_chars": 300})
    prompt = build_prompt(TEMPLATES, issue_task("feature"), config, max_context_chars=50_000)
    assert prompt.sizes.context_budget == 300
    assert prompt.sizes.context_chars <= 300
