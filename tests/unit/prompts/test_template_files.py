"""Reading the shipped templates from disk: which directory, which files, each with its partials."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeloop.domain.prompts import PromptTemplateError
from codeloop.services.prompting.templates import (
    PROMPTS_DIR_ENV,
    load_templates,
    prompts_dir,
    read_partials,
)

HEADER = "{#---\nid: probe\ntask_types: [feature]\ndescription: t\nvariables: [task]\n---#}\n"


def test_prompts_dir_prefers_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROMPTS_DIR_ENV, str(tmp_path))
    assert prompts_dir() == tmp_path
    monkeypatch.delenv(PROMPTS_DIR_ENV)
    assert (prompts_dir() / "feature.md.j2").is_file()


def test_an_environment_directory_that_does_not_exist_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PROMPTS_DIR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(PromptTemplateError, match="is not a directory"):
        prompts_dir()


def test_file_name_and_metadata_id_must_agree(tmp_path: Path) -> None:
    (tmp_path / "other.md.j2").write_text(HEADER + "{{ task }}")
    with pytest.raises(PromptTemplateError, match="must match the file name"):
        load_templates(tmp_path)


def test_partials_are_named_as_templates_refer_to_them(tmp_path: Path) -> None:
    (tmp_path / "_partials" / "deep").mkdir(parents=True)
    (tmp_path / "_partials" / "deep" / "part.md.j2").write_text("deep {{ task }}")
    (tmp_path / "_partials" / "notes.txt").write_text("not a partial")
    (tmp_path / "probe.md.j2").write_text(HEADER + '{% include "_partials/deep/part.md.j2" %}')
    assert read_partials(tmp_path) == {"_partials/deep/part.md.j2": "deep {{ task }}"}
    (probe,) = load_templates(tmp_path)
    assert probe.partials == {"_partials/deep/part.md.j2": "deep {{ task }}"}


def test_every_ship_template_carries_the_shared_layout() -> None:
    layout = (prompts_dir() / "_partials" / "layout.md.j2").read_text(encoding="utf-8")
    templates = load_templates()
    assert templates
    assert all(t.partials["_partials/layout.md.j2"] == layout for t in templates)
