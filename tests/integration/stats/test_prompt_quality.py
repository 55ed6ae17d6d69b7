"""The prompt quality score against real PostgreSQL: which tasks count as outcomes (stored in
task_outcomes when they end), the posterior mean and 95 % interval in GET /api/v1/stats and in
`codeloop prompts list`, and the outcomes template selection learns from."""

from __future__ import annotations

import pytest

from codeloop import cli
from codeloop.db import learning_store, stats_store
from tests.integration.stats.test_stats import seeded  # noqa: F401 - the seeded rows, as a fixture

# Seeded: widgets a1 completed (first prompt feature v1), a2 failed with no verdict (left out), a3
# completed (bug_fix v1), a4 failed after failed validations (feature v2); gadgets b1 completed
# (feature v1), b2 still running (left out). Beta(3, 1) quantiles are q^(1/3); Beta(2, 1)'s sqrt(q).
EVERYONE = [
    ("bug_fix", 1, 1, 0, 0.6667, 0.1581, 0.9874),
    ("feature", 1, 2, 0, 0.75, 0.2924, 0.9916),
    ("feature", 2, 0, 1, 0.3333, 0.0126, 0.8419),
]


def scores(quality) -> list[tuple]:
    return [
        (q["template_id"], q["version"], q["green"], q["not_green"], q["mean"], q["low"], q["high"])
        for q in quality
    ]


def test_stats_show_each_versions_posterior_mean_and_interval(seeded):  # noqa: F811
    stats = stats_store.collect(seeded).model_dump(mode="json")
    assert scores(stats["prompt_quality"]) == [pytest.approx(row, abs=1e-4) for row in EVERYONE]
    gadgets = stats_store.collect(seeded, "octo/gadgets").model_dump(mode="json")
    assert scores(gadgets["prompt_quality"]) == [
        pytest.approx(row, abs=1e-4)
        for row in (
            ("bug_fix", 1, 0, 0, 0.5, 0.025, 0.975),  # no outcomes there: the prior
            ("feature", 1, 1, 0, 0.6667, 0.1581, 0.9874),
            ("feature", 2, 0, 0, 0.5, 0.025, 0.975),
        )
    ]


def test_prompts_list_prints_the_quality_score(seeded, capsys):  # noqa: F811
    assert cli.main(["prompts", "list"]) == 0
    out = capsys.readouterr().out
    assert "quality score: green within budget, posterior mean [95 % interval]" in out
    assert "feature v1               0.75 [0.29, 0.99]  (2 / 2)" in out
    assert "feature v2               0.33 [0.01, 0.84]  (0 / 1)" in out


def test_selection_learns_from_the_same_outcomes_split_by_repository(seeded):  # noqa: F811
    # the seeded tasks are all features (the column default)
    rows = learning_store.template_outcomes(seeded, ["bug_fix", "feature"], "feature", repository_id=1)
    assert {(r.template_id, r.version, r.this_repository, r.green, r.not_green) for r in rows} == {
        ("bug_fix", 1, True, 1, 0),
        ("feature", 1, True, 1, 0),
        ("feature", 1, False, 1, 0),
        ("feature", 2, True, 0, 1),
    }
