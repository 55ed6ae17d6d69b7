"""The whole loop from Linear: a Linear issue labelled `codeloop` by a linked writer ends in a green
check run on GitHub, with one Linear comment created and then edited in place, the pull request
attached to the issue, and the issue moved to the mapping's done state."""

from __future__ import annotations

import pytest

from codeloop.db import identities_store, linear_store
from codeloop.db.pool import transaction
from codeloop.domain.models import IdentityProvider
from tests.e2e.conftest import REPO, Loop
from tests.e2e.test_loop import FIXED
from tests.fakes.linear_api import FakeLinearApi, linear_fake_environment
from tests.fakes.linear_webhooks import delivery, post


@pytest.fixture
def linear(loop: Loop, monkeypatch) -> FakeLinearApi:
    with linear_fake_environment(monkeypatch) as fake:
        labelled = delivery("issue_labelled")
        fake.add_issue(labelled["data"])
        with transaction() as conn:
            identities_store.link(conn, IdentityProvider.LINEAR, labelled["actor"]["id"], "maintainer")
            linear_store.map_team(conn, "ENG", REPO, done_state="In Review")
        yield fake


def test_a_labelled_linear_issue_ends_green_with_one_living_linear_comment(loop: Loop, linear: FakeLinearApi):
    labelled = delivery("issue_labelled")
    issue_id = labelled["data"]["id"]
    assert post(labelled)["status"] == 202
    loop.pump(until=lambda: loop.latest_run() is not None)

    task = loop.task()
    assert (task.type, task.source, task.requested_by) == ("issue_to_pr", "label", "maintainer")
    # The prompt names the Linear issue, asks for `Fixes ENG-123`, and fences the issue's text.
    prompt = loop.latest_run()["prompt"]
    assert "Fixes ENG-123" in prompt and "## Issue ENG-123 (https://linear.app/acme/issue/ENG-123" in prompt
    fenced = prompt.split("issue ENG-123, title and body", 1)[1]
    assert "add() subtracts" in fenced and "- `add(1, 2) == 3`" in fenced
    [comment] = linear.comments_on(issue_id)
    assert "codeloop" in comment["body"] and "ENG-123" in comment["body"]

    agent_pr = loop.agent_opens_pull_request(loop.latest_run()["id"], FIXED)
    loop.pump(until=lambda: loop.task_status() == "completed")
    loop.pump(until=lambda: linear.issues[issue_id]["state"] == "In Review")

    # GitHub: a green check run on the agent's head.
    task = loop.task()
    assert task.pr_number == agent_pr
    # The agent left `Fixes ENG-123` out of its description: codeloop appended it.
    assert loop.repo.pulls[agent_pr]["body"] == "Fixes ENG-123"
    final = [c for c in loop.repo.check_runs.values() if c["head_sha"] == task.head_sha]
    assert [(c["status"], c["conclusion"]) for c in final] == [("completed", "success")]
    # Linear: one comment, created once and edited in place to green; the PR attached once.
    [comment] = linear.comments_on(issue_id)
    assert comment["edits"] >= 1 and comment["body"].startswith("### ✅ codeloop: Passed")
    assert f"[#{agent_pr}]({task.pr_url})" in comment["body"]
    operations = linear.operations()
    assert operations.count("commentCreate") == 1 and operations.count("attachmentLinkURL") == 1
    updates = [call.body["variables"]["id"] for call in linear.calls if "commentUpdate" in call.body["query"]]
    assert updates and set(updates) == {comment["id"]}
    assert list(linear.attachments) == [(issue_id, task.pr_url)]
    assert operations[-2:] == ["workflowStates", "issueUpdate"]
