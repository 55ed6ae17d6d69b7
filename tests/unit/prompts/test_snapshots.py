"""Every ship template, rendered for a fixture task, equals its snapshot.

Refresh after a deliberate change: ``UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest
tests/unit/prompts/test_snapshots.py`` (see snapshots/README.md), then review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codeloop.domain.prompts import AvailableTemplate, build_prompt
from codeloop.services.prompting.templates import load_templates
from tests.unit.prompts.fixture_tasks import fixture_tasks, repo_config

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
TASKS = fixture_tasks()


@pytest.fixture(scope="module")
def ship_templates() -> list[AvailableTemplate]:
    return [AvailableTemplate(template=t, version=1) for t in load_templates()]


def test_every_ship_template_has_a_fixture_task(ship_templates: list[AvailableTemplate]) -> None:
    assert sorted(TASKS) == sorted(t.template.id for t in ship_templates)


@pytest.mark.parametrize("template_id", sorted(TASKS))
def test_rendered_prompt_matches_snapshot(template_id: str, ship_templates: list[AvailableTemplate]) -> None:
    prompt = build_prompt(ship_templates, TASKS[template_id], repo_config(), max_context_chars=20_000)

    assert prompt.template_id == template_id
    snapshot = SNAPSHOTS / f"{template_id}.md"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        snapshot.write_text(prompt.text, encoding="utf-8")
    assert snapshot.exists(), f"no snapshot {snapshot.name}: run with UPDATE_SNAPSHOTS=1 to create it"
    assert prompt.text == snapshot.read_text(encoding="utf-8")
