"""Choosing a template version by outcomes: Beta posteriors, Thompson sampling, the quality score.

Pure: the caller hands in outcome counts (PostgreSQL's) and a ``random.Random``; a seeded one
makes every choice reproducible (the tests, ``bench/learning.py``).

- An *outcome* is a task that ended: *green* (validation passed) or *not green* (it ended failed
  after a verdict on its code: out of iterations, the same failure again, stopped by a budget).
  It counts for the version of each template the task's prompts used.
- Each version that may serve a task has, per template (each serves a task type) and complexity
  band, a posterior
  Beta(1 + green, 1 + not green): a uniform prior updated by its outcomes.
- :func:`choose` draws one sample from each posterior and takes the highest (Thompson sampling):
  a version is chosen as often as it is likely to be the best, so a clearly worse one fades out
  and two close ones keep sharing until the evidence separates them.
- A version with fewer than ``trial_outcomes`` outcomes gets a guaranteed ``trial_share`` of the
  choices (each such version its own share), so a new version is tried even when an old one looks
  good, and an old one is not judged on a few unlucky tasks.
- A repository's own outcomes are used instead of everyone's once it has
  ``repository_min_outcomes`` of them for the task type and band.
- The *quality score* of a version is its posterior mean with a central 95 % interval (exact
  Beta quantiles: the regularized incomplete beta function, inverted by bisection).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import Field

from codeloop.domain.frozen import Frozen

VersionKey = tuple[str, int]  # (template id, version)


def complexity_band(complexity: int) -> str:
    """The band (of TaskSpec's 1-5 complexity) outcomes are pooled in: nearby tasks teach each other."""
    if complexity <= 2:
        return "1-2"
    return "3" if complexity == 3 else "4-5"


class Outcomes(Frozen):
    green: int = Field(default=0, ge=0)
    not_green: int = Field(default=0, ge=0)

    @property
    def total(self) -> int:
        return self.green + self.not_green

    @property
    def alpha(self) -> int:
        return 1 + self.green

    @property
    def beta(self) -> int:
        return 1 + self.not_green

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    def __add__(self, other: Outcomes) -> Outcomes:
        return Outcomes(green=self.green + other.green, not_green=self.not_green + other.not_green)

    def describe(self) -> str:
        return f"Beta({self.alpha}, {self.beta}) mean {self.mean:.2f}"


class QualityScore(Frozen):
    """A version's posterior mean and central interval on "green within budget"."""

    green: int
    not_green: int
    mean: float
    low: float
    high: float
    level: float = 0.95


def quality_score(outcomes: Outcomes, level: float = 0.95) -> QualityScore:
    tail = (1 - level) / 2
    return QualityScore(
        green=outcomes.green,
        not_green=outcomes.not_green,
        mean=round(outcomes.mean, 4),
        low=round(beta_quantile(tail, outcomes.alpha, outcomes.beta), 4),
        high=round(beta_quantile(1 - tail, outcomes.alpha, outcomes.beta), 4),
        level=level,
    )


class LearningPolicy(Frozen):
    trial_share: float = Field(default=0.1, ge=0, le=1, description="Of the choices, per new version.")
    trial_outcomes: int = Field(default=10, ge=0, description="Outcomes after which a version is not new.")
    repository_min_outcomes: int = Field(
        default=30, ge=1, description="A repository's own outcomes (type and band) before they are used."
    )


@dataclass(frozen=True)
class LearningInputs:
    """What one selection learns from: the outcomes in the task's complexity band of the versions
    of the templates serving its type, everyone's and the task's repository's; the version of each
    template the task already used (it keeps it, so that its outcome is that version's)."""

    rng: random.Random
    policy: LearningPolicy = field(default_factory=LearningPolicy)
    everyone: Mapping[VersionKey, Outcomes] = field(default_factory=dict)
    repository: Mapping[VersionKey, Outcomes] = field(default_factory=dict)
    kept: Mapping[str, int] = field(default_factory=dict)  # template id → the version the task used


class Choice(Frozen):
    index: int
    reason: str


def choose(
    labels: Sequence[str],
    everyone: Sequence[Outcomes],
    repository: Sequence[Outcomes],
    policy: LearningPolicy,
    rng: random.Random,
) -> Choice:
    """Which of the candidates (named by ``labels``) to serve, and a reason naming the posteriors.

    One ``rng.random()`` decides a trial, then one ``rng.betavariate`` per candidate."""
    if not labels:
        raise ValueError("nothing to choose from")
    own = sum(o.total for o in repository)
    if own >= policy.repository_min_outcomes:
        scope, counts = f"this repository's ({own} outcomes)", list(repository)
    else:
        scope, counts = (
            f"all repositories' (this one has {own} of {policy.repository_min_outcomes})",
            list(everyone),
        )
    compared = "; ".join(
        f"{label} {o.describe()} ({o.total} outcomes)" for label, o in zip(labels, counts, strict=True)
    )
    if len(labels) == 1:
        return Choice(index=0, reason=f"the only version that may serve; {scope} posterior: {compared}")
    new = [i for i, o in enumerate(counts) if o.total < policy.trial_outcomes]
    share = min(policy.trial_share, 1 / len(new)) if new else 0.0  # shares add up to at most all
    draw = rng.random()
    if draw < share * len(new):
        index = new[min(int(draw / share), len(new) - 1)]  # min: float rounding at the edge
        return Choice(
            index=index,
            reason=f"trial share: {labels[index]} has {counts[index].total} of the "
            f"{policy.trial_outcomes} outcomes a new version is guaranteed {policy.trial_share:.0%} of "
            f"the choices until; {scope} posteriors: {compared}",
        )
    samples = [rng.betavariate(o.alpha, o.beta) for o in counts]
    index = max(range(len(samples)), key=lambda i: (samples[i], -i))
    drew = ", ".join(f"{label} {sample:.3f}" for label, sample in zip(labels, samples, strict=True))
    return Choice(
        index=index,
        reason=f"Thompson sampling over {scope} posteriors: {compared}; drew {drew}: {labels[index]} highest",
    )


# -- Beta quantiles without scipy --------------------------------------------------------------


def regularized_incomplete_beta(x: float, a: float, b: float) -> float:
    """I_x(a, b), the Beta(a, b) distribution function at ``x`` (continued fraction, Lentz)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    front = math.exp(log_front)
    if x < (a + 1) / (a + b + 2):
        return front * _continued_fraction(x, a, b) / a
    return 1 - front * _continued_fraction(1 - x, b, a) / b


def _continued_fraction(x: float, a: float, b: float, iterations: int = 300) -> float:
    tiny = 1e-300

    def nonzero(value: float) -> float:
        return value if abs(value) > tiny else tiny

    c, d = 1.0, 1 / nonzero(1 - (a + b) * x / (a + 1))
    result = d
    for m in range(1, iterations + 1):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 / nonzero(1 + numerator * d)
            c = nonzero(1 + numerator / c)
            result *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return result


def beta_quantile(q: float, a: float, b: float) -> float:
    """The ``q`` quantile of Beta(a, b), by bisection on the distribution function (to 1e-12)."""
    low, high = 0.0, 1.0
    while high - low > 1e-12:
        middle = (low + high) / 2
        if regularized_incomplete_beta(middle, a, b) < q:
            low = middle
        else:
            high = middle
    return (low + high) / 2
