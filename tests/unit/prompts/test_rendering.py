"""Loading and rendering templates: strict, sandboxed, loud about what is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeloop.domain.prompts import (
    PROMPTS_DIR_ENV,
    PromptRenderError,
    PromptTemplateError,
    load_templates,
    parse_template,
    prompts_dir,
    render_template,
)

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


def test_content_hash_covers_included_partials(tmp_path: Path) -> None:
    (tmp_path / "_partials").mkdir()
    partial = tmp_path / "_partials" / "part.md.j2"
    text = source('{% include "_partials/part.md.j2" %}')
    partial.write_text("version one {{ task }}")
    first = parse_template(text, directory=tmp_path).sha256
    partial.write_text("version two {{ task }}")
    second = parse_template(text, directory=tmp_path).sha256
    assert first != second


def test_prompts_dir_prefers_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROMPTS_DIR_ENV, str(tmp_path))
    assert prompts_dir() == tmp_path
    monkeypatch.delenv(PROMPTS_DIR_ENV)
    assert (prompts_dir() / "feature.md.j2").is_file()


def test_file_name_and_metadata_id_must_agree(tmp_path: Path) -> None:
    (tmp_path / "other.md.j2").write_text(source("{{ task }}"))
    with pytest.raises(PromptTemplateError, match="must match the file name"):
        load_templates(tmp_path)
