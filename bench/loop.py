"""bench/loop: the whole loop on the local stack's pieces (real PostgreSQL, moto running the real
state machine, the real handlers, the GitHub and Codegen fakes on loopback).

Prints, over a few runs:
- from the signed `/codeloop fix` webhook to the first check run created at the GitHub fake
  (aim <= 1 s);
- the loop's own overhead from the webhook to the green check run: the wall time minus the
  validation commands' own time (the fake agent answers at once; aim <= 5 s).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import scratch_database  # noqa: E402

RUNS = 3


class _Env:
    """Just enough of pytest's monkeypatch for the fakes' environment helpers."""

    def setenv(self, key: str, value: str) -> None:
        os.environ[key] = value


def measure(loop, pr: int, fixed_files: dict[str, str]) -> tuple[float, float]:
    """One request: seconds to the first check run, and the loop's own seconds to green."""
    from codeloop.db.pool import transaction

    start = time.perf_counter()
    loop.comment(pr, "/codeloop fix make add() add")
    loop.pump(until=lambda: bool(loop.repo.check_runs))
    first = time.perf_counter() - start
    loop.pump(until=lambda: loop.latest_run() is not None)
    loop.agent_opens_pull_request(loop.latest_run()["id"], fixed_files)
    loop.pump(until=lambda: loop.task_status() == "completed")
    total = time.perf_counter() - start
    with transaction() as conn:
        rows = conn.execute("select results from validation_runs").fetchall()
    commands = sum(c["duration_seconds"] for row in rows for c in (row["results"] or {}).get("commands", []))
    return first, total - commands


def main() -> None:
    from codeloop.adapters import aws as aws_adapter
    from codeloop.db import store
    from codeloop.db.pool import close_pool, transaction
    from codeloop.domain.models import Installation, RepositoryRef
    from codeloop.local import aws as local_aws
    from codeloop.services.agents.providers import reset_providers
    from codeloop.services.prompting.versions import sync_templates
    from codeloop.settings import reset_settings
    from tests.e2e.conftest import (
        CALC_BROKEN,
        CALC_FIXED,
        INSTALLATION,
        REPO,
        SECRET,
        TESTS,
        Loop,
        config,
    )
    from tests.fakes.codegen_api import FakeCodegenApi
    from tests.fakes.github_git import github_with_git_environment

    emulation = local_aws.start_emulation()
    admin_url = os.environ.get("DATABASE_URL")
    to_first_check, overheads = [], []
    try:
        for _ in range(RUNS):
            if admin_url:
                os.environ["DATABASE_URL"] = admin_url
            else:
                os.environ.pop("DATABASE_URL", None)
            with scratch_database() as url, tempfile.TemporaryDirectory() as git_root:
                local_aws.reset(emulation.endpoint_url)
                env = local_aws.provision(emulation.endpoint_url)
                os.environ.update(
                    env | {"DATABASE_URL": url, "GITHUB_WEBHOOK_SECRET": SECRET, "PROVIDERS": "codegen"}
                )
                with (
                    github_with_git_environment(_Env(), Path(git_root)) as github,
                    FakeCodegenApi() as codegen,
                ):
                    os.environ.update(
                        CODEGEN_API_URL=codegen.url,
                        CODEGEN_API_KEY=codegen.api_key,
                        CODEGEN_ORG_ID=str(codegen.org_id),
                    )
                    reset_settings()
                    reset_providers()
                    aws_adapter.reset_clients()
                    repo = github.add_repo(REPO, installation_id=INSTALLATION)
                    files = {
                        ".github/codeloop.yml": config(),
                        "calc.py": CALC_BROKEN,
                        "tests/test_calc.py": TESTS,
                    }
                    github.publish(REPO, "main", files)
                    github.publish(REPO, "feature", files | {"README.md": "# calc\n"})
                    pr = repo.add_pull_request(head="feature", title="Add a README")
                    repo.set_permission("maintainer", "write")
                    codegen.add_repo(REPO, repo.id)
                    with transaction() as conn:
                        store.upsert_installation(conn, Installation(id=INSTALLATION, account_login="octo"))
                        store.upsert_repository(conn, RepositoryRef(id=repo.id, full_name=REPO), INSTALLATION)
                        sync_templates(conn)
                    first, overhead = measure(Loop(github, codegen, env), pr, files | {"calc.py": CALC_FIXED})
                    to_first_check.append(first)
                    overheads.append(overhead)
                    reset_providers()
                close_pool()
    finally:
        emulation.stop()
    print(
        f"signed webhook -> first check run at the GitHub fake: median {statistics.median(to_first_check) * 1000:.0f} ms "
        f"(runs: {', '.join(f'{t * 1000:.0f}' for t in to_first_check)} ms)"
    )
    print(
        f"the loop's own overhead, webhook -> green check run, minus the tests' time: median "
        f"{statistics.median(overheads):.2f} s (runs: {', '.join(f'{t:.2f}' for t in overheads)} s)"
    )


if __name__ == "__main__":
    main()
