"""Template selection: by task type and complexity, a repository pin wins, ties are deterministic."""

from __future__ import annotations

import itertools

import pytest

from codeloop.domain.prompts import (
    AvailableTemplate,
    PromptSelectionError,
    PromptTemplate,
    parse_template,
    select_template,
)
from codeloop.domain.repo_config import RepoConfig, parse_repo_config

NO_CONFIG = RepoConfig()


def template(
    template_id: str, task_types: str, complexity: tuple[int, int] = (1, 5), body: str = "x"
) -> PromptTemplate:
    source = (
        f"{{#---\nid: {template_id}\ntask_types: [{task_types}]\n"
        f"complexity: [{complexity[0]}, {complexity[1]}]\n"
        f"description: test template\nvariables: []\n---#}}\n{body}\n"
    )
    return parse_template(source, name=f"{template_id}.md.j2")


def available(*items: tuple[PromptTemplate, int]) -> list[AvailableTemplate]:
    return [AvailableTemplate(template=t, version=v) for t, v in items]


GENERAL = template("feature", "feature")
LARGE = template("feature_large", "feature", (4, 5))
SMALL = template("feature_small", "feature", (1, 2))
BUGS = template("bug_fix", "bug_fix")
POOL = available((GENERAL, 1), (GENERAL, 2), (LARGE, 1), (SMALL, 3), (BUGS, 1))


@pytest.mark.parametrize(
    ("complexity", "expected"),
    [(1, "feature_small"), (2, "feature_small"), (3, "feature"), (4, "feature_large")],
)
def test_the_most_specific_template_for_type_and_complexity_wins(complexity: int, expected: str) -> None:
    chosen = select_template(POOL, "feature", complexity, NO_CONFIG)
    assert chosen.template.id == expected
    assert f"complexity {complexity} is within its range" in chosen.reason


def test_latest_version_is_used_without_a_pin() -> None:
    chosen = select_template(POOL, "feature", 3, NO_CONFIG)
    assert (chosen.template.id, chosen.version) == ("feature", 2)
    assert chosen.reason.startswith("feature v2 ")


def test_only_templates_serving_the_task_type_are_considered() -> None:
    assert select_template(POOL, "bug_fix", 5, NO_CONFIG).template.id == "bug_fix"
    with pytest.raises(PromptSelectionError, match="no prompt template serves task type 'docs'"):
        select_template(POOL, "docs", 3, NO_CONFIG)


def test_nearest_complexity_range_when_none_holds_it() -> None:
    pool = available((SMALL, 1), (LARGE, 1))
    chosen = select_template(pool, "feature", 3, NO_CONFIG)
    # distance 1 from both ranges: then the narrowest range, then the smallest id
    assert chosen.template.id == "feature_large"
    assert "nearest" in chosen.reason


def test_repository_pin_wins_over_type_and_complexity() -> None:
    config = parse_repo_config("prompts:\n  feature: feature_large\n")
    chosen = select_template(POOL, "feature", 1, config)
    assert (chosen.template.id, chosen.version) == ("feature_large", 1)
    assert "pinned" in chosen.reason and ".github/codeloop.yml" in chosen.reason


def test_a_pinned_version_is_used_even_when_newer_exists() -> None:
    config = parse_repo_config("prompts:\n  feature: {template: feature, version: 1}\n")
    chosen = select_template(POOL, "feature", 3, config)
    assert (chosen.template.id, chosen.version) == ("feature", 1)
    assert "pinned to version 1" in chosen.reason


def test_a_pin_to_a_missing_template_or_version_fails_loudly() -> None:
    for text in (
        "prompts:\n  feature: nonexistent\n",
        "prompts:\n  feature: {template: feature, version: 9}\n",
    ):
        with pytest.raises(PromptSelectionError, match=r"pins prompts\.feature"):
            select_template(POOL, "feature", 3, parse_repo_config(text))


def test_ties_are_broken_the_same_way_whatever_the_input_order() -> None:
    twins = [template(name, "feature", (2, 3)) for name in ("beta", "alpha", "gamma")]
    wider = template("aaa_wide", "feature, bug_fix", (2, 3))
    choices = set()
    for order in itertools.permutations([*twins, wider]):
        chosen = select_template(available(*((t, 1) for t in order)), "feature", 2, NO_CONFIG)
        choices.add((chosen.template.id, chosen.reason))
    assert choices == {
        (
            "alpha",
            "alpha v1 (complexity 2-3): serves 'feature' and complexity 2 is within its range; "
            "chosen among 4 by narrowest range, fewest task types, then id",
        )
    }
