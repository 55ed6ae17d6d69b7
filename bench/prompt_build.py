"""How long ``build_prompt`` takes with a large context; prints p50/p99 (target: p50 ≤ 50 ms).

The context: a 5,000-file tree, a 300 KB diff, 50 changed files of ~6 KB each, a README,
manifests, commits, a CI log; the budget is the service default (60,000 chars).

    .venv/bin/python bench/prompt_build.py [--runs 50]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from codeloop.domain.prompt_context import (
    Commit,
    Failure,
    FileText,
    IssueRef,
    PromptInputs,
    PullRequestRef,
    RepositoryInfo,
    TaskSpec,
)
from codeloop.domain.prompts import AvailableTemplate, build_prompt
from codeloop.domain.repo_config import parse_repo_config
from codeloop.services.prompting.templates import load_templates
from codeloop.settings import Settings

WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "value",
    "result",
    "error",
    "config",
    "request",
    "handler",
]


def code_line(rng: random.Random) -> str:
    return "    " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))


def text_of(rng: random.Random, chars: int) -> str:
    lines, size = [], 0
    while size < chars:
        line = code_line(rng)
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines)


def large_inputs(seed: int = 7) -> PromptInputs:
    rng = random.Random(seed)
    tree = [f"pkg{n % 40}/module{n % 97}/file_{n}.py" for n in range(5_000)]
    changed = [FileText(path=tree[n * 100], content=text_of(rng, 6_000)) for n in range(50)]
    diff = "\n".join(
        f"diff --git a/{f.path} b/{f.path}\n@@ -1,40 +1,40 @@\n"
        + "\n".join(("+" if i % 2 else "-") + line for i, line in enumerate(f.content.splitlines()))
        for f in changed
    )[:300_000]
    task = TaskSpec(
        type="fix_failing_checks",
        complexity=3,
        request="Make the checks pass.",
        requested_by="octocat",
        issue=IssueRef(number=7, title="Crash on empty config", body=text_of(rng, 3_000), url="https://x/7"),
        pull_request=PullRequestRef(
            number=8,
            title="Fix crash",
            body=text_of(rng, 2_000),
            url="https://x/8",
            head_branch="fix",
            base_branch="main",
        ),
        acceptance_criteria=["An empty config loads with defaults."],
    )
    return PromptInputs(
        task=task,
        repository=RepositoryInfo(full_name="octo/big", languages={"Python": 900_000, "Shell": 5_000}),
        readme=text_of(rng, 20_000),
        file_tree=tree,
        files=changed,
        diff=diff,
        manifests=[FileText(path="pyproject.toml", content=text_of(rng, 3_000))],
        commits=[Commit(sha=f"{n:040x}", message=f"commit {n}", author="dev") for n in range(30)],
        failures=[Failure(source="command pytest -q", exit_code=1, output=text_of(rng, 50_000))],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    templates = [AvailableTemplate(template=t, version=1) for t in load_templates()]
    config = parse_repo_config("validation:\n  test: ['pytest -q']\n")
    budget = Settings.fields()["max_context_chars"].default
    inputs = large_inputs()
    raw = sum(len(f.content) for f in inputs.files) + len(inputs.diff or "") + sum(map(len, inputs.file_tree))
    build_prompt(templates, inputs, config, budget)  # warm: compile the template once, as a warm Lambda has
    timings = []
    for _ in range(args.runs):
        start = time.perf_counter()
        prompt = build_prompt(templates, inputs, config, budget)
        timings.append((time.perf_counter() - start) * 1000)
    timings.sort()
    p99 = timings[min(len(timings) - 1, round(0.99 * (len(timings) - 1)))]
    print(
        f"input: {raw:,} chars of files/diff/tree; budget {budget:,}; "
        f"prompt {prompt.sizes.total_chars:,} chars"
    )
    print(f"pieces: {len(prompt.manifest.pieces)}, cut or omitted: {len(prompt.manifest.cut)}")
    print(f"build_prompt over {args.runs} runs: p50 {statistics.median(timings):.1f} ms, p99 {p99:.1f} ms")


if __name__ == "__main__":
    main()
