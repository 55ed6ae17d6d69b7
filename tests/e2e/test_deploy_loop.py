"""The whole loop on a small web app (tests/fixtures/webapp): validation.deploy starts it, ready waits
for it, HTTP checks call it. The agent's first version has a planted bug that an HTTP check catches;
the fix prompt shows the failed check, and the agent's fix passes it."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.e2e.conftest import REPO, Loop
from tests.e2e.test_loop import resumed_prompt, start_fix

APP = (Path(__file__).resolve().parents[1] / "fixtures" / "webapp" / "app.py").read_text()
BUGGY_APP = APP.replace("return sum(xs) / len(xs)", "return sum(xs) / (len(xs) + 1)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def deploy_config(port: int) -> str:
    base = f"http://127.0.0.1:{port}"
    return f"""\
iterations: 2
validation:
  deploy: ["python app.py --port {port}"]
  ready: {{url: "{base}/health", timeout_seconds: 30}}
  checks:
    - {{name: health, url: "{base}/health", contains: "ok"}}
    - {{name: mean, url: "{base}/api/mean?xs=1,2,3", status: 200, contains: "2.0"}}
  include_repo_checks: false
"""


def test_a_web_app_is_deployed_checked_fixed_and_passes(loop: Loop):
    assert BUGGY_APP != APP  # the bug is planted
    port = free_port()
    main = {".github/codeloop.yml": deploy_config(port), "app.py": APP}
    loop.github.publish(REPO, "main", main, "A web app")
    _, run = start_fix(loop, "make /api/mean answer the mean")

    agent_pr = loop.agent_opens_pull_request(run["id"], main | {"app.py": BUGGY_APP})
    loop.pump(
        until=lambda: (
            loop.task().attempt == 2
            and loop.codegen.runs[run["id"]]["status"] == "ACTIVE"
            and any(c["conclusion"] == "failure" for c in loop.repo.check_runs.values())
        )
    )

    # The first attempt: the app got ready and its health check passed, the mean check failed.
    first = next(c for c in loop.repo.check_runs.values() if c["conclusion"] == "failure")
    assert first["output"]["title"] == "Checks failed: mean"
    text = first["output"]["text"]
    assert f"ready at `http://127.0.0.1:{port}`" in text
    assert f"✅ check `health`: `GET http://127.0.0.1:{port}/health` → status 200" in text
    assert f"❌ check `mean`: `GET http://127.0.0.1:{port}/api/mean?xs=1,2,3` → status 200" in text
    # The fix prompt shows the failed check: which request, what was wrong, what the app answered.
    prompt = resumed_prompt(loop, run["id"])
    assert f"HTTP check mean: GET http://127.0.0.1:{port}/api/mean?xs=1,2,3" in prompt
    assert "2.0" in prompt and '{"mean": 1.5}' in prompt

    loop.agent_pushes(agent_pr, main)  # the fix
    loop.pump(until=lambda: loop.task_status() == "completed")

    task = loop.task()
    assert task.attempt == 2
    [final] = [c for c in loop.repo.check_runs.values() if c["head_sha"] == task.head_sha]
    assert (final["conclusion"], final["output"]["title"]) == (
        "success",
        "Passed: 0 test commands succeeded, 2 checks passed",
    )
    assert (
        f"✅ check `mean`: `GET http://127.0.0.1:{port}/api/mean?xs=1,2,3` → status 200"
        in final["output"]["text"]
    )
