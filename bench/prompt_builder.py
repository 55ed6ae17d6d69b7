"""The whole prompt build with its GitHub reads served by the fake: gather the context, select, render.

A repository of 5,000 files; a pull request changing 50 files (~6 KB each, a ~300 KB diff); the
task names two files. Prints p50/p99 of the total, of the time inside GitHub-backed pieces, and
of our own time (total minus GitHub), for a cold client (new token, empty HTTP cache) and a warm
one (conditional requests answered 304), and how many GitHub calls one build makes.

    .venv/bin/python bench/prompt_builder.py [--runs 20]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pytest
from _support import percentiles

from codeloop.adapters import github as gh
from codeloop.domain.models import Repository, Task
from codeloop.domain.prompts import AvailableTemplate, build_prompt
from codeloop.domain.repo_config import RepoConfig
from codeloop.services.prompting.context import gather
from codeloop.services.prompting.templates import load_templates
from codeloop.settings import get_settings
from tests.fakes.github import github_fake_environment

REPO = "octo/monolith"
INSTALLATION = 1
FILES = 5_000
CHANGED = 50
CHANGED_FILE_CHARS = 6_000


def code(rng: random.Random, chars: int) -> str:
    words = ["value", "result", "error", "config", "request", "handler", "return", "self", "data"]
    lines, size = [], 0
    while size < chars:
        line = "    " + " ".join(rng.choice(words) for _ in range(rng.randint(3, 10)))
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines) + "\n"


def seed(fake) -> tuple[Repository, Task]:
    rng = random.Random(7)
    files: dict[str, str | bytes | None] = {
        f"pkg{i % 40}/module{i % 7}/file_{i}.py": f"# file {i}\nVALUE = {i}\n" for i in range(FILES - 3)
    }
    files |= {"README.md": code(rng, 15_000), "pyproject.toml": '[project]\nname = "monolith"\n'}
    files["requirements.txt"] = "httpx\npydantic\n"
    repo = fake.add_repo(REPO, files=files, installation_id=INSTALLATION)
    changed = sorted(files)[:CHANGED]
    repo.commit_files("feature", {path: code(rng, CHANGED_FILE_CHARS) for path in changed})
    number = repo.add_pull_request("feature", title="A large change")
    now = datetime.now(UTC)
    repository = Repository.model_validate(
        {
            "id": repo.id,
            "full_name": REPO,
            "default_branch": "main",
            "private": True,
            "installation_id": INSTALLATION,
            "active": True,
            "setup_commands": [],
            "test_commands": ["pytest -q"],
            "deploy_commands": [],
            "rules": {},
            "auto_merge": False,
            "iteration_budget": 3,
        }
    )
    task = Task.model_validate(
        {
            "id": uuid.uuid4(),
            "repository_id": repo.id,
            "title": "Review the change",
            "description": f"Look at {changed[0]} and {sorted(files)[-10]} in particular.",
            "requirements": [],
            "acceptance_criteria": ["tests pass"],
            "type": "review_feedback",
            "complexity": 6,
            "priority": "medium",
            "status": "prompting",
            "source": "api",
            **dict.fromkeys(
                ("requested_by", "request_key", "issue_number", "comment_id", "base_branch", "branch"), None
            ),
            **dict.fromkeys(
                ("pr_url", "head_sha", "agent_run_url", "parent_task_id", "workflow_execution_arn"), None
            ),
            "status_comment_id": None,
            "pr_number": number,
            "attempt": 1,
            "error_log": [],
            "retry_count": 0,
            "metadata": {},
            "created_at": now,
            "updated_at": now,
            "completed_at": None,
        }
    )
    return repository, task


def one_build(templates, repository, task) -> tuple[float, float, int]:
    started = time.perf_counter()
    gathered = gather(task, repository, attempt=1)
    prompt = build_prompt(templates, gathered.inputs, RepoConfig(), get_settings().max_context_chars)
    total = (time.perf_counter() - started) * 1000
    return total, gathered.github_ms, prompt.sizes.total_chars


def report(label: str, samples: list[tuple[float, float, int]], calls: Counter) -> None:
    print(f"{label}: prompt {samples[-1][2]:,} chars")
    print(f"  total    {percentiles([s[0] for s in samples])}")
    print(f"  GitHub   {percentiles([s[1] for s in samples])}")
    print(f"  our own  {percentiles([s[0] - s[1] for s in samples])}")
    print(f"  GitHub calls per build: {sum(calls.values()) / len(samples):.0f}  ({dict(calls)})")


def main(runs: int) -> None:
    templates = [AvailableTemplate(template=t, version=1) for t in load_templates()]
    with pytest.MonkeyPatch.context() as monkeypatch, github_fake_environment(monkeypatch) as fake:
        repository, task = seed(fake)
        cold, warm = [], []
        cold_calls, warm_calls = Counter(), Counter()
        for _ in range(runs):
            gh.reset_clients()  # a new token and an empty HTTP cache: a cold Lambda
            fake.clear_calls()
            cold.append(one_build(templates, repository, task))
            cold_calls.update(f"{c.method} {c.status}" for c in fake.calls)
            fake.clear_calls()
            warm.append(one_build(templates, repository, task))  # the same process again: 304s
            warm_calls.update(f"{c.method} {c.status}" for c in fake.calls)
    report("cold client", cold, cold_calls)
    report("warm client", warm, warm_calls)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    main(parser.parse_args().runs)
