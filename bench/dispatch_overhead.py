"""Per-call overhead of codeloop's Codegen provider against the HTTP fake on loopback.

Prints p50/p99 of: a bare httpx call with the same request (the floor: loopback + the fake),
the provider's create_run / get_run, and the provider's own work without I/O (building the
request, validating and normalising the answer). Run: .venv/bin/python bench/dispatch_overhead.py [calls]
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from codeloop.adapters.codegen_api import CodegenApiProvider
from codeloop.domain.providers import RunRepository, RunRequest
from tests.fakes.codegen_api import FakeCodegenApi


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"p50 {p50 * 1e3:7.3f} ms   p99 {p99 * 1e3:7.3f} ms"


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main(calls: int) -> None:
    with FakeCodegenApi() as fake:
        fake.add_repo("octo-org/widgets", 1296269)
        provider = CodegenApiProvider(base_url=fake.url, api_key=fake.api_key, org_id=fake.org_id)
        raw = httpx.Client(
            base_url=f"{fake.url}/v1/organizations/{fake.org_id}",
            headers={"Authorization": f"Bearer {fake.api_key}"},
        )
        request = RunRequest(
            task_id="task-bench",
            attempt=0,
            prompt="Add a flag",
            repository=RunRepository(full_name="octo-org/widgets"),
        )
        repo_id = provider.repo_id_for(request.repository)  # warm the client and the repo cache
        body = {"prompt": request.prompt, "metadata": request.run_metadata(), "repo_id": repo_id}
        run_id = provider.create_run(request).run_id
        raw.get(f"/agent/run/{run_id}")

        samples: dict[str, list[float]] = {name: [] for name in ("raw_create", "create", "raw_get", "get")}
        for _ in range(calls):
            samples["raw_create"].append(timed(lambda: raw.post("/agent/run", json=body).json()))
            samples["create"].append(timed(lambda: provider.create_run(request)))
            samples["raw_get"].append(timed(lambda: raw.get(f"/agent/run/{run_id}").json()))
            samples["get"].append(timed(lambda: provider.get_run(run_id)))
        answer = raw.get(f"/agent/run/{run_id}").json()
        own = [
            timed(
                lambda: (
                    provider._result(answer),
                    {"prompt": request.prompt, "metadata": request.run_metadata(), "repo_id": repo_id},
                )
            )
            for _ in range(calls * 10)
        ]
        raw.close()
        provider.close()

    print(f"{calls} calls each, loopback fake of the Codegen API")
    print(f"  bare httpx POST /agent/run        {percentiles(samples['raw_create'])}")
    print(f"  provider.create_run               {percentiles(samples['create'])}")
    print(f"  bare httpx GET /agent/run/{{id}}    {percentiles(samples['raw_get'])}")
    print(f"  provider.get_run                  {percentiles(samples['get'])}")
    print(f"  our code alone (no I/O)           {percentiles(own)}")
    for name in ("create", "get"):
        overhead = statistics.median(samples[name]) - statistics.median(samples[f"raw_{name}"])
        print(f"  median overhead of {name}_run over bare httpx: {overhead * 1e3:+.3f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
