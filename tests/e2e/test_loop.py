"""The whole loop, from a signed `/codeloop fix` comment to a green check run or an explained failure."""

from __future__ import annotations

import re

from codeloop.db.pool import transaction
from tests.e2e.conftest import CALC_BROKEN, CALC_FIXED, REPO, TESTS, Loop, config

FIXED = {".github/codeloop.yml": config(), "calc.py": CALC_FIXED, "tests/test_calc.py": TESTS}
STILL_BROKEN = {".github/codeloop.yml": config(), "calc.py": CALC_BROKEN, "tests/test_calc.py": TESTS}


def open_human_pull_request(loop: Loop) -> int:
    loop.github.publish(REPO, "feature", STILL_BROKEN | {"README.md": "# calc\n"}, "A human's change")
    return loop.repo.add_pull_request(head="feature", title="Add a README")


def normalised(calls: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Calls with ids replaced, so a test can state the exact sequence of kinds of calls."""
    return [
        (method, re.sub(r"/\d+(?=/|$)", "/N", re.sub(r"/[0-9a-f]{40}", "/SHA", path)))
        for method, path in calls
    ]


def test_a_fix_command_ends_in_a_green_check_run(loop: Loop):
    pr = open_human_pull_request(loop)
    comment_id = loop.comment(pr, "/codeloop fix make add() add")
    loop.pump(until=lambda: loop.latest_run() is not None)

    # 👀 at once; the task; a queued check run on the PR's head; the one comment.
    assert loop.repo.reactions[comment_id][0]["content"] == "eyes"
    task = loop.task()
    assert (task.type, task.pr_number, task.requested_by) == ("bug_fix", pr, "maintainer")
    first_check = next(iter(loop.repo.check_runs.values()))
    assert first_check["name"] == "codeloop" and first_check["head_sha"] == loop.repo.refs["feature"]
    # The agent run was created with the stored prompt.
    run = loop.latest_run()
    assert "make add() add" in run["prompt"] and run["metadata"]["codeloop_task_id"] == str(task.id)

    agent_pr = loop.agent_opens_pull_request(run["id"], FIXED)
    loop.pump(until=lambda: loop.task_status() == "completed")

    task = loop.task()
    assert task.pr_number == agent_pr and task.head_sha == loop.repo.refs["codegen/fix"]
    final = [c for c in loop.repo.check_runs.values() if c["head_sha"] == task.head_sha]
    assert [(c["status"], c["conclusion"]) for c in final] == [("completed", "success")]
    [comment] = loop.bot_comments()  # one comment, edited in place
    assert comment["body"].startswith(f"<!-- codeloop:task:{task.id} -->")
    assert "✅" in comment["body"]
    calls = normalised(loop.calls())
    assert set(calls) == {
        ("POST", "/app/installations/N/access_tokens"),
        # the command: 👀, the config, the requester's permission, the PR's review threads
        # (none open: a bug fix), the PR's head
        ("POST", "/repos/octo/calc/issues/comments/N/reactions"),
        ("GET", "/repos/octo/calc/contents/.github/codeloop.yml"),
        ("GET", "/repos/octo/calc/collaborators/maintainer/permission"),
        ("POST", "/graphql"),
        ("GET", "/repos/octo/calc/pulls/N"),
        # the one comment and the check runs, written by the status syncer only
        ("GET", "/repos/octo/calc/issues/N/comments"),
        ("POST", "/repos/octo/calc/issues/N/comments"),
        ("PATCH", "/repos/octo/calc/issues/comments/N"),
        ("POST", "/repos/octo/calc/check-runs"),
        ("PATCH", "/repos/octo/calc/check-runs/N"),
        # the prompt's context
        ("GET", "/repos/octo/calc"),
        ("GET", "/repos/octo/calc/languages"),
        ("GET", "/repos/octo/calc/git/trees/SHA"),
        ("GET", "/repos/octo/calc/contents/README.md"),
        ("GET", "/repos/octo/calc/commits"),
        ("GET", "/repos/octo/calc/pulls/N/files"),
        # the validation's checkout of the agent's head, with a read-only token
        ("GET", "/octo/calc.git/info/refs"),
        ("POST", "/octo/calc.git/git-upload-pack"),
        # the green head's tree, so a merge group of the same tree gets a success at once
        ("GET", "/repos/octo/calc/git/commits/SHA"),
    }
    assert calls.count(("POST", "/repos/octo/calc/issues/N/comments")) == 1
    assert calls.count(("POST", "/repos/octo/calc/issues/comments/N/reactions")) == 1
    # one check run queued on the human's head, one on the agent's head that ended green
    assert calls.count(("POST", "/repos/octo/calc/check-runs")) == 2


def start_fix(loop: Loop, instructions: str = "make add() add") -> tuple[int, dict]:
    pr = open_human_pull_request(loop)
    loop.comment(pr, f"/codeloop fix {instructions}")
    loop.pump(until=lambda: loop.latest_run() is not None)
    return pr, loop.latest_run()


def resumed_prompt(loop: Loop, run_id: int) -> str:
    resumes = [call for call in loop.codegen.calls if call.path.endswith("/agent/run/resume")]
    assert resumes and resumes[-1].body["agent_run_id"] == run_id
    return resumes[-1].body["prompt"]


def latest_run_on(loop: Loop, head_sha: str) -> dict:
    """The newest check run on a commit. A commit can carry several: when the publisher runs while
    the agent's first commit is still the head, the first attempt's run is finished there and the
    second attempt's begins there too (then continues on the next commit)."""
    return [c for c in loop.repo.check_runs.values() if c["head_sha"] == head_sha][-1]


def state(check_run: dict) -> tuple[str, str | None]:
    return check_run["status"], check_run["conclusion"]


def test_a_failing_first_attempt_is_fed_back_and_the_second_passes(loop: Loop):
    _, run = start_fix(loop)
    agent_pr = loop.agent_opens_pull_request(run["id"], STILL_BROKEN)
    loop.pump(
        until=lambda: (
            loop.task() is not None
            and loop.task().attempt == 2
            and loop.codegen.runs[run["id"]]["status"] == "ACTIVE"
        )
    )

    prompt = resumed_prompt(loop, run["id"])
    assert "test_add" in prompt and "assert" in prompt  # the failure, fed back
    loop.agent_pushes(agent_pr, FIXED)
    loop.pump(until=lambda: loop.task_status() == "completed")

    task = loop.task()
    assert task.attempt == 2
    assert state(latest_run_on(loop, task.head_sha)) == ("completed", "success")
    assert ("completed", "failure") in map(state, loop.repo.check_runs.values())  # the first attempt's
    first = next(c for c in loop.repo.check_runs.values() if c["conclusion"] == "failure")
    sent = [(a["path"], a["start_line"], a["title"]) for a in loop.repo.annotations_of(first["id"])]
    assert sent and len(sent) == len(set(sent))  # GitHub appends what it is sent: each one once
    [comment] = loop.bot_comments()
    assert "✅" in comment["body"]
    with transaction() as conn:  # the fix is remembered for the repository's next failure like it
        [memory] = conn.execute("select test_ids, files from fix_memories").fetchall()
    assert [test for test in memory["test_ids"] if test.endswith("test_add")] and "calc.py" in memory["files"]


def test_the_budget_runs_out_and_says_so(loop: Loop):
    main = STILL_BROKEN | {".github/codeloop.yml": config(iterations=1)}
    loop.github.publish(REPO, "main", main, "one retry only")
    _, run = start_fix(loop)
    agent_pr = loop.agent_opens_pull_request(run["id"], main)  # the agent leaves the config alone
    loop.pump(until=lambda: loop.task().attempt == 2 and loop.codegen.runs[run["id"]]["status"] == "ACTIVE")
    # A different failure this time, so it is not "the same failure again".
    other = TESTS + "\n\ndef test_sub():\n    from calc import sub\n    assert sub(3, 1) == 2\n"
    loop.agent_pushes(agent_pr, main | {"calc.py": CALC_FIXED, "tests/test_calc.py": other})
    loop.pump(until=lambda: loop.task_status() == "failed")

    task = loop.task()
    assert task.error_log[-1]["error"].startswith("BudgetExhausted")
    [comment] = loop.bot_comments()
    assert "❌" in comment["body"] and "budget" in comment["body"].lower()

    # The check run's "Fix again" button starts a new attempt of the same task.
    check = next(c for c in loop.repo.check_runs.values() if c["head_sha"] == task.head_sha)
    loop.webhook("check_run", {
        "action": "requested_action", "requested_action": {"identifier": "fix"},
        "check_run": {"id": check["id"], "head_sha": task.head_sha, "external_id": f"{task.id}:{task.attempt}",
                      "pull_requests": [{"number": agent_pr}]},
        "repository": loop.repo.json(), "installation": {"id": 7},
        "sender": {"login": "maintainer", "type": "User", "id": 1},
    })  # fmt: skip
    loop.pump(until=lambda: loop.task().attempt == 3)
    assert loop.task().retry_count == 1 and len(loop.bot_comments()) == 1


def test_the_same_failure_twice_stops_early_and_says_so(loop: Loop):
    _, run = start_fix(loop)
    agent_pr = loop.agent_opens_pull_request(run["id"], STILL_BROKEN)
    loop.pump(until=lambda: loop.task().attempt == 2 and loop.codegen.runs[run["id"]]["status"] == "ACTIVE")
    loop.agent_pushes(agent_pr, STILL_BROKEN | {"NOTES.md": "tried something\n"})
    loop.pump(until=lambda: loop.task_status() == "failed")

    assert loop.task().error_log[-1]["error"].startswith("RepeatedFailure")
    [comment] = loop.bot_comments()
    assert "same" in comment["body"].lower()


def test_cancel_mid_run(loop: Loop):
    pr, _ = start_fix(loop)
    loop.comment(pr, "/codeloop cancel")
    loop.pump(until=lambda: loop.task_status() == "cancelled")

    task = loop.task()
    from codeloop.adapters.aws import client

    # Stopped, or (moto cannot stop a step that waits on a token) failed through its ended wait.
    loop.pump(
        until=lambda: (
            client("stepfunctions").describe_execution(executionArn=task.workflow_execution_arn)["status"]
            != "RUNNING"
        )
    )
    [check] = loop.repo.check_runs.values()
    assert (check["status"], check["conclusion"]) == ("completed", "cancelled")
    [comment] = loop.bot_comments()
    assert "cancel" in comment["body"].lower()


def test_codegen_down_leaves_a_visible_wait_then_recovers(loop: Loop, monkeypatch):
    import json as _json

    from codeloop.local.handlers import load
    from codeloop.services.agents.providers import reset_providers
    from codeloop.settings import reset_settings

    monkeypatch.setenv("BREAKER_FAILURE_THRESHOLD", "2")
    monkeypatch.setenv("BREAKER_COOLDOWN_SECONDS", "3")
    monkeypatch.setenv(
        "RETRY_POLICIES",
        _json.dumps({"retryable": {"base_seconds": 0.5, "max_delay_seconds": 0.5, "max_attempts": 20}}),
    )
    reset_settings()
    reset_providers()
    loop.codegen.fail_next(1000, "status", status=503)  # down
    pr = open_human_pull_request(loop)
    loop.comment(pr, "/codeloop fix make add() add")
    loop.pump(until=lambda: loop.task_status() == "waiting_provider")
    # the wait is visible where the work was asked (once the status note is rendered)
    loop.pump(until=lambda: "💤" in loop.bot_comments()[0]["body"])
    assert len(loop.bot_comments()) == 1
    assert loop.codegen.runs == {}

    # Codegen is back; after the breaker's cool-down the sweeper's next pass resumes the task.
    import time

    loop.codegen.recover()
    time.sleep(3.1)
    load("status_syncer")({"source": "codeloop.sweeper"}, None)
    loop.pump(until=lambda: loop.latest_run() is not None)
    assert loop.task_status() == "generating"
    agent_pr = loop.agent_opens_pull_request(loop.latest_run()["id"], FIXED)
    loop.pump(until=lambda: loop.task_status() == "completed")
    assert loop.task().pr_number == agent_pr


def test_closing_the_pull_request_ends_its_task(loop: Loop):
    pr, _ = start_fix(loop)
    loop.repo.pulls[pr]["state"] = "closed"
    loop.pull_request_event("closed", pr)
    loop.pump(until=lambda: loop.task_status() == "cancelled")
    assert "closed by" in loop.task().error_log[-1]["error"]
    loop.pump(until=lambda: "⏹️" in loop.bot_comments()[0]["body"])


def test_validate_runs_the_tests_again_on_the_current_head(loop: Loop):
    _, run = start_fix(loop)
    agent_pr = loop.agent_opens_pull_request(run["id"], FIXED)
    loop.pump(until=lambda: loop.task_status() == "completed")

    # Someone pushes a breaking change to the agent's PR, then asks for a validation.
    loop.github.publish(REPO, "codegen/fix", STILL_BROKEN, "a human's breaking change")
    loop.comment(agent_pr, "/codeloop validate")
    loop.pump(until=lambda: loop.task_status() == "failed")

    task = loop.task()
    assert task.attempt == 2 and task.head_sha == loop.repo.refs["codegen/fix"]
    assert task.error_log[-1]["error"].startswith("ValidationFailed")
    assert len(loop.codegen.runs) == 1  # no agent was asked
    assert state(latest_run_on(loop, task.head_sha)) == ("completed", "failure")
