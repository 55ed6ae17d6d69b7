"""Template versions chosen by outcomes: Thompson sampling, the trial share, pins and rollbacks,
the quality score's Beta interval."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from codeloop.domain.learning import (
    LearningInputs,
    LearningPolicy,
    Outcomes,
    beta_quantile,
    quality_score,
    regularized_incomplete_beta,
)
from codeloop.domain.prompts import AvailableTemplate, select_template
from codeloop.domain.repo_config import RepoConfig, parse_repo_config
from tests.unit.prompts.test_selection import NO_CONFIG, template

BUGS = template("bug_fix", "bug_fix")
V1, V2, V3 = (AvailableTemplate(template=BUGS, version=v) for v in (1, 2, 3))
POLICY = LearningPolicy(trial_share=0.1, trial_outcomes=10, repository_min_outcomes=30)
HISTORY = {("bug_fix", 1): Outcomes(green=40, not_green=60), ("bug_fix", 2): Outcomes(green=70, not_green=30)}


def choose(seed: int, pool=(V1, V2, V3), config=NO_CONFIG, **learning):
    inputs = LearningInputs(rng=random.Random(seed), **({"policy": POLICY, "everyone": HISTORY} | learning))
    return select_template(list(pool), "bug_fix", 2, config, inputs)


def test_the_same_seed_and_outcomes_give_the_same_choice_and_reason():
    first = [(c.version, c.reason) for c in (choose(seed) for seed in range(50))]
    again = [(c.version, c.reason) for c in (choose(seed) for seed in range(50))]
    assert first == again
    assert len({version for version, _ in first}) > 1  # the seeds do matter


def test_the_reason_names_the_posteriors_it_compared():
    reasons = [choose(seed).reason for seed in range(40)]
    thompson = next(r for r in reasons if "Thompson sampling" in r)
    assert "v1 Beta(41, 61) mean 0.40 (100 outcomes)" in thompson
    assert "v2 Beta(71, 31) mean 0.70 (100 outcomes)" in thompson
    assert "v3 Beta(1, 1) mean 0.50 (0 outcomes)" in thompson
    assert "complexity band 1-2" in thompson


def test_the_better_posterior_wins_most_choices():
    counts = Counter(choose(seed, pool=(V1, V2)).version for seed in range(400))
    assert counts[2] > 380  # 0.70 against 0.40 after 100 outcomes each


def test_a_new_version_gets_its_trial_share_until_it_has_enough_outcomes():
    trials = [choose(seed) for seed in range(2000)]
    tried = [c for c in trials if c.version == 3 and "trial share" in c.reason]
    assert 0.08 < len(tried) / len(trials) < 0.12  # its 10 %, whatever the posteriors say
    assert "v3 has 0 of the 10 outcomes" in tried[0].reason
    seasoned = HISTORY | {("bug_fix", 3): Outcomes(green=3, not_green=7)}
    later = [choose(seed, everyone=seasoned) for seed in range(500)]
    assert not any("trial share" in c.reason for c in later)


def test_a_repository_pin_wins_over_the_posteriors():
    config = parse_repo_config("prompts:\n  bug_fix: {template: bug_fix, version: 1}\n")
    assert {choose(seed, config=config).version for seed in range(50)} == {1}


def test_a_rolled_back_template_serves_its_active_version_alone():
    held = V2.model_copy(update={"active": True})
    chosen = [choose(seed, pool=(V1, held)) for seed in range(50)]
    assert {c.version for c in chosen} == {2}
    assert all("rolled back" in c.reason for c in chosen)


def test_a_task_keeps_the_version_it_started_with():
    chosen = {choose(seed, kept={"bug_fix": 1}).version for seed in range(50)}
    assert chosen == {1}


def test_a_repository_with_enough_history_uses_its_own_posteriors():
    own = {("bug_fix", 1): Outcomes(green=30, not_green=2), ("bug_fix", 2): Outcomes(green=2, not_green=30)}
    pool = (V1, V2)
    counts = Counter(choose(seed, pool=pool, repository=own).version for seed in range(200))
    assert counts[1] > 190
    assert "this repository's (64 outcomes)" in choose(0, pool=pool, repository=own).reason
    few = {("bug_fix", 1): Outcomes(green=5, not_green=0)}
    assert "all repositories' (this one has 5 of 30)" in choose(0, pool=pool, repository=few).reason


def test_without_learning_inputs_the_latest_version_serves():
    assert select_template([V1, V2, V3], "bug_fix", 2, RepoConfig()).version == 3


@pytest.mark.parametrize("x", [0.1, 0.35, 0.5, 0.9])
def test_the_incomplete_beta_matches_closed_forms(x):
    assert regularized_incomplete_beta(x, 1, 1) == pytest.approx(x)
    assert regularized_incomplete_beta(x, 2, 1) == pytest.approx(x**2)
    assert regularized_incomplete_beta(x, 1, 3) == pytest.approx(1 - (1 - x) ** 3)
    assert regularized_incomplete_beta(x, 2, 2) == pytest.approx(3 * x**2 - 2 * x**3)


def test_beta_quantiles_invert_the_distribution():
    assert beta_quantile(0.25, 2, 1) == pytest.approx(0.5, abs=1e-9)
    assert beta_quantile(0.5, 7, 7) == pytest.approx(0.5, abs=1e-9)
    for a, b in ((3, 9), (41, 61), (200, 5)):
        for q in (0.025, 0.5, 0.975):
            assert regularized_incomplete_beta(beta_quantile(q, a, b), a, b) == pytest.approx(q, abs=1e-9)


def test_the_quality_score_is_the_posterior_mean_with_its_95_percent_interval():
    score = quality_score(Outcomes(green=8, not_green=2))  # Beta(9, 3)
    assert score.mean == pytest.approx(0.75)
    # Beta(9, 3) quantiles (scipy.stats.beta.ppf): 0.4822 and 0.9398
    assert (score.low, score.high) == (pytest.approx(0.4822, abs=2e-4), pytest.approx(0.9398, abs=2e-4))
    empty = quality_score(Outcomes())
    assert (empty.mean, empty.low, empty.high) == (0.5, 0.025, 0.975)
