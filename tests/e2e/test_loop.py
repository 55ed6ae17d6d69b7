"""The whole loop, from a signed `/codeloop fix` comment to a green check run or an explained failure."""

from __future__ import annotations

import re

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
        # the command: 👀, the config, the requester's permission, the PR's head
        ("POST", "/repos/octo/calc/issues/comments/N/reactions"),
        ("GET", "/repos/octo/calc/contents/.github/codeloop.yml"),
        ("GET", "/repos/octo/calc/collaborators/maintainer/permission"),
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
    }
    assert calls.count(("POST", "/repos/octo/calc/issues/N/comments")) == 1
    assert calls.count(("POST", "/repos/octo/calc/issues/comments/N/reactions")) == 1
    # one check run queued on the human's head, one on the agent's head that ended green
    assert calls.count(("POST", "/repos/octo/calc/check-runs")) == 2
