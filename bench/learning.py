"""Template selection by outcomes, simulated: codeloop's choice against uniform random and always-newest.

2,000 tasks of one type meet three versions of one template whose hidden chances of ending green
are v1 0.45, v2 0.60, v3 0.55: the best is not the newest. Each task's version is chosen by
``select_template`` (the function the prompt builder calls) with the outcomes so far and the
product's default policy (``LEARNING_*`` settings); its outcome is drawn from the hidden rate and
counted, as ``task_outcomes`` would count it, before the next task. Regret is, per task,
the best rate minus the chosen version's rate (expected regret, not the luck of the draws),
summed over the tasks; the table gives it over several seeds. Outcomes arrive at once here; in
production a task's outcome lands when it ends, so selections in between learn nothing from it.

    .venv/bin/python bench/learning.py [--tasks 2000] [--seeds 30]
"""

from __future__ import annotations

import argparse
import random
import statistics
from collections import Counter
from collections.abc import Callable

from codeloop.domain.learning import LearningInputs, LearningPolicy, Outcomes
from codeloop.domain.prompts import AvailableTemplate, parse_template, select_template
from codeloop.domain.repo_config import RepoConfig
from codeloop.settings import get_settings

RATES = {1: 0.45, 2: 0.60, 3: 0.55}  # hidden: version → chance of ending green
TEMPLATE = "bug_fix"
VERSIONS = [
    AvailableTemplate(
        template=parse_template(
            f"{{#---\nid: {TEMPLATE}\ntask_types: [bug_fix]\ncomplexity: [1, 5]\n"
            f"description: version {version}\nvariables: []\n---#}}\nversion {version}\n"
        ),
        version=version,
    )
    for version in RATES
]
Chooser = Callable[[dict[tuple[str, int], Outcomes], random.Random], int]


def codeloop(policy: LearningPolicy) -> Chooser:
    def choose(counts: dict[tuple[str, int], Outcomes], rng: random.Random) -> int:
        learning = LearningInputs(rng=rng, policy=policy, everyone=counts, repository=counts)
        return select_template(VERSIONS, TEMPLATE, 2, RepoConfig(), learning).version

    return choose


def uniform(counts: dict[tuple[str, int], Outcomes], rng: random.Random) -> int:
    return rng.choice(list(RATES))


def newest(counts: dict[tuple[str, int], Outcomes], rng: random.Random) -> int:
    return max(RATES)


class Run:
    """One simulated sequence of tasks: the cumulative regret at each checkpoint, and which
    versions served."""

    def __init__(self, chooser: Chooser, tasks: int, seed: int, checkpoints: list[int]):
        rng = random.Random(seed)  # the chooser's draws
        world = random.Random(seed + 1_000_003)  # the outcomes' draws
        counts: dict[tuple[str, int], Outcomes] = {}
        best = max(RATES.values())
        total = 0.0
        self.regret: list[float] = []
        self.served: Counter[int] = Counter()
        for task in range(1, tasks + 1):
            version = chooser(counts, rng)
            self.served[version] += 1
            total += best - RATES[version]
            green = world.random() < RATES[version]
            counts[(TEMPLATE, version)] = counts.get((TEMPLATE, version), Outcomes()) + Outcomes(
                green=int(green), not_green=int(not green)
            )
            if task in checkpoints:
                self.regret.append(total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=30)
    args = parser.parse_args()
    policy = get_settings().learning_policy
    seeds = range(1, args.seeds + 1)
    checkpoints = sorted({args.tasks // 8, args.tasks // 4, args.tasks // 2, args.tasks} - {0})
    choosers = {"codeloop (Thompson)": codeloop(policy), "uniform random": uniform, "always newest": newest}
    runs = {
        name: [Run(chooser, args.tasks, seed, checkpoints) for seed in seeds]
        for name, chooser in choosers.items()
    }
    print(
        f"{args.tasks} tasks, {args.seeds} seeds; hidden green rates "
        + ", ".join(f"v{v} {r:.2f}" for v, r in RATES.items())
        + f"; policy: trial share {policy.trial_share:.0%} per new version until "
        f"{policy.trial_outcomes} outcomes"
    )
    print("cumulative regret (mean over seeds) after n tasks; sd, min, max and versions served at the end")
    heads = "".join(f"{'n=' + str(n):>9}" for n in checkpoints)
    print(f"{'selection':<22}{heads} {'sd':>7} {'min':>7} {'max':>7}  served v1/v2/v3")
    final: dict[str, list[float]] = {}
    for name, results in runs.items():
        means = [statistics.mean(r.regret[i] for r in results) for i in range(len(checkpoints))]
        final[name] = [r.regret[-1] for r in results]
        served = sum((r.served for r in results), Counter())
        shares = "/".join(f"{served[v] / (args.tasks * args.seeds):.0%}" for v in RATES)
        print(
            f"{name:<22}{''.join(f'{m:>9.1f}' for m in means)} {statistics.stdev(final[name]):>7.1f} "
            f"{min(final[name]):>7.1f} {max(final[name]):>7.1f}  {shares}"
        )
    ratio = statistics.mean(final["codeloop (Thompson)"]) / statistics.mean(final["uniform random"])
    print(f"regret codeloop/uniform = {ratio:.3f}")


if __name__ == "__main__":
    main()
