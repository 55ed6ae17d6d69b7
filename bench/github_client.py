"""Cost of codeloop's GitHub module: cold import, a cold first call, and warm per-call overhead.

Against the GitHub HTTP fake on loopback. Cold figures come from fresh interpreters (median of
a few); warm figures are p50/p99 of calls in one process, next to a bare httpx GET of the same
URL with the same token (the floor: loopback + the fake). Run:
.venv/bin/python bench/github_client.py [calls]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import pytest
from _support import percentiles

from codeloop.adapters import github as gh
from codeloop.settings import reset_settings
from tests.fakes.github import github_fake_environment

REPO = "octo/hello"
COLD_RUNS = 5

# Runs in a fresh interpreter: the module import, then the first call (githubkit import, JWT,
# token, request), each timed on its own.
COLD_CHILD = """
import json, time
start = time.perf_counter()
from codeloop.adapters import github as gh
imported = time.perf_counter()
gh.get_repository(1, "octo/hello")
called = time.perf_counter()
print(json.dumps({"import_ms": (imported - start) * 1e3, "first_call_ms": (called - imported) * 1e3}))
"""


def timed_ms(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1e3


def cold_figures() -> dict[str, float]:
    """In fresh interpreters that inherit this one's settings (pointing at the fake)."""
    runs = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", COLD_CHILD], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(COLD_RUNS)
    ]
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def main(calls: int) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch, github_fake_environment(monkeypatch) as fake:
        repo = fake.add_repo(REPO)
        issue = repo.add_issue()
        cold = cold_figures()
        print(
            f"cold import of codeloop.adapters.github      {cold['import_ms']:8.1f} ms (median of {COLD_RUNS})"
        )
        print(
            f"cold first call (githubkit, JWT, token, GET)  {cold['first_call_ms']:8.1f} ms (median of {COLD_RUNS})"
        )

        gh.get_repository(1, REPO)  # warm: client, token, cache entry
        token = gh.installation_token(1, REPO, gh.METADATA_READ)
        with httpx.Client(headers={"Authorization": f"token {token}"}) as bare:
            floor = [timed_ms(lambda: bare.get(f"{fake.url}/repos/{REPO}")) for _ in range(calls)]
        reads = [timed_ms(lambda: gh.get_repository(1, REPO)) for _ in range(calls)]
        file_reads = [timed_ms(lambda: gh.get_file_content(1, REPO, "README.md")) for _ in range(calls)]
        gh.create_issue_comment(1, REPO, issue, "warm-up")
        writes = [timed_ms(lambda: gh.create_issue_comment(1, REPO, issue, "hello")) for _ in range(calls)]
        print(f"bare httpx GET (floor: loopback + fake)       {percentiles(floor)}")
        print(f"get_repository (conditional GET → 304)        {percentiles(reads)}")
        print(f"get_file_content (raw, conditional → 304)     {percentiles(file_reads)}")
        print(f"create_issue_comment (POST)                   {percentiles(writes)}")
        statuses = {call.status for call in fake.calls_to("GET", f"/repos/{REPO}")[1:]}
        print(f"warm GET statuses at the fake: {sorted(statuses)}")
    gh.reset_clients()
    reset_settings()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
