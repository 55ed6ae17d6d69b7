"""Parsing and rendering templates: strict, sandboxed, loud about what is missing, from text alone."""

from __future__ import annotations

import pytest

from codeloop.domain.prompts import (
    PromptRenderError,
    PromptTemplateError,
    parse_template,
    render_template,
)
from codeloop.services.prompting.templates import load_templates

HEADER = "{{#---\nid: {id}\ntask_types: [feature]\ndescription: t\nvariables: [{variables}]\n---#}}\n"


def source(body: str, variables: str = "task", template_id: str = "probe") -> str:
    return HEADER.format(id=template_id, variables=variables) + body


def test_ship_templates_cover_every_required_task_type() -> None:
    served = {task_type for t in load_templates() for task_type in t.meta.task_types}
    assert served >= {
        "feature",
        "bug_fix",
        "refactor",
        "tests",
        "docs",
        "fix_failing_checks",
        "review_feedback",
        "issue_to_pr",
    }


def test_metadata_header_is_not_rendered() -> None:
    template = parse_template(source("Hello {{ task.name }}"))
    assert render_template(template, {"task": {"name": "you"}}) == "Hello you"


def test_a_missing_top_level_variable_names_template_and_variable() -> None:
    template = parse_template(source("Hello {{ task.name }}"))
    with pytest.raises(PromptRenderError, match=r"'probe'.*'task'") as caught:
        render_template(template, {})
    assert caught.value.variable == "task"


def test_a_missing_attribute_fails_instead_of_rendering_blank() -> None:
    text = source("line one\nHello {{ task.nmae }}!")
    template = parse_template(text)
    with pytest.raises(PromptRenderError) as caught:
        render_template(template, {"task": {"name": "you"}})
    assert caught.value.template_id == "probe"
    assert caught.value.variable == "nmae"
    assert caught.value.line == text.splitlines().index("Hello {{ task.nmae }}!") + 1  # a line of the file


def test_a_missing_variable_inside_a_ship_partial_fails_loudly() -> None:
    (feature,) = [t for t in load_templates() if t.id == "feature"]
    variables = {
        "task": {},
        "repository": {"full_name": "o/r", "default_branch": "main"},
        "validation": {},
        "context": {},
    }
    with pytest.raises(PromptRenderError, match="'feature'"):
        render_template(feature, variables)


def test_undeclared_variables_are_rejected_at_load() -> None:
    with pytest.raises(PromptTemplateError, match=r"used but not declared \['secret'\]"):
        parse_template(source("{{ task }} {{ secret }}"))


def test_a_template_without_its_header_is_rejected() -> None:
    with pytest.raises(PromptTemplateError, match="metadata block"):
        parse_template("Hello {{ task }}")


def test_bad_metadata_is_reported_by_field() -> None:
    bad = (
        "{#---\nid: probe\ntask_types: [cooking]\ncomplexity: [4, 2]\ndescription: t\nvariables: []\n---#}\n"
    )
    with pytest.raises(PromptTemplateError, match="task_types"):
        parse_template(bad)


def test_rendering_is_sandboxed() -> None:
    template = parse_template(source("{{ task.__class__.__mro__ }}"))
    with pytest.raises(PromptRenderError):
        render_template(template, {"task": {}})


PARTIAL = "_partials/greet.md.j2"


def test_content_hash_covers_included_partials() -> None:
    text = source(f'{{% include "{PARTIAL}" %}}')
    first = parse_template(text, {PARTIAL: "version one {{ task }}"}).sha256
    second = parse_template(text, {PARTIAL: "version two {{ task }}"}).sha256
    assert first != second


def test_content_hash_is_the_one_stored_versions_carry() -> None:
    """Computed as before templates carried their partials: stored versions keep their hashes."""
    text = source(f'{{% include "{PARTIAL}" %}}\n')
    template = parse_template(text, {PARTIAL: "Hello {{ task }} from the partial\n"})
    assert template.sha256 == "7618565447e107f078e02cbd99c0992f864c96ae26659897ea1edf08d6eaef02"


def test_a_template_carries_only_the_partials_it_uses_transitively() -> None:
    available = {
        "_partials/layout.md.j2": '[{% include "_partials/inner.md.j2" %}]',
        "_partials/inner.md.j2": "inner {{ task }}",
        "_partials/unused.md.j2": "never pulled in",
    }
    template = parse_template(source('{% extends "_partials/layout.md.j2" %}'), available)
    assert template.partials == {
        "_partials/inner.md.j2": "inner {{ task }}",
        "_partials/layout.md.j2": '[{% include "_partials/inner.md.j2" %}]',
    }
    assert render_template(template, {"task": "x"}) == "[inner x]"


def test_a_template_renders_with_the_partials_it_carries_not_others() -> None:
    text = source(f'{{% include "{PARTIAL}" %}}')
    old = parse_template(text, {PARTIAL: "old {{ task }}"})
    new = parse_template(text, {PARTIAL: "new {{ task }}"})
    assert render_template(old, {"task": "x"}) == "old x"
    assert render_template(new, {"task": "x"}) == "new x"


def test_a_partial_that_is_not_given_is_rejected_at_parse() -> None:
    with pytest.raises(PromptTemplateError, match=r"partial '_partials/missing.md.j2' cannot be loaded"):
        parse_template(source('{% include "_partials/missing.md.j2" %}'), {PARTIAL: "{{ task }}"})
