"""Auto-merge of the agent's pull request when its task ends green (issue 12, part 2), against
real PostgreSQL and the GitHub fake: GitHub's auto-merge when the repository allows it, a REST
merge of the validated head when it does not and everything is green, and a refusal, said in
the comment and the check run, otherwise. A later push turns GitHub's auto-merge off again."""

from datetime import UTC, datetime

import pytest

from codeloop.adapters import github
from codeloop.db import dispatch_store, store, validation_store
from codeloop.db.pool import transaction
from codeloop.domain.models import NewTask, RepositoryRef, TaskType
from codeloop.domain.validation import ValidationReport
from codeloop.services.intake.events import process_delivery
from codeloop.services.syncer import on_status
from tests.unit.ingress.payloads import load

REPO = "octo/widgets"
AGENT = "codegen-sh[bot]"
CONFIG = "auto_merge: {method: squash}\nvalidation:\n  test: [pytest -q]\n"
BRANCH = "codegen/fix-parse"
TWO_FILES = {"src/app.py": "x = 2\n", "src/more.py": "y = 1\n"}


@pytest.fixture
def world(db_url, github_fake):
    repo = github_fake.add_repo(REPO, files={".github/codeloop.yml": CONFIG, "src/app.py": "x = 1\n"})
    return {"fake": github_fake, "repo": repo}


def green_task(
    world,
    *,
    files=None,
    user=AGENT,
    fork=None,
    branch=BRANCH,
    mergeable_state="clean",
    listed_files_limit=3000,
):
    """A task whose agent PR passed validation, about to end green (GitHub lists at most
    ``listed_files_limit`` of its files)."""
    repo = world["repo"]
    repo.listed_files_limit = listed_files_limit
    head = repo.commit_files(branch, files or {"src/app.py": "x = 2\n"})
    number = repo.add_pull_request(branch, user=user, fork=fork, fork_head_sha=head if fork else None)
    repo.pulls[number]["mergeable_state"] = mergeable_state
    with transaction() as conn:
        store.ensure_installation(conn, 1, "octo")
        store.upsert_repository(conn, RepositoryRef(id=repo.id, full_name=REPO, default_branch="main"), 1)
        store.update_repository_settings(conn, repo.id, test_commands=["pytest -q"], auto_merge=True)
        task = store.create_task(
            conn,
            NewTask(
                repository_id=repo.id,
                title="Fix parse",
                type=TaskType.BUG_FIX,
                pr_number=number,
                head_sha=head,
            ),
        )
        for status in ("queued", "prompting", "generating", "validating"):
            task = store.transition_task(conn, task.id, status)
        task = store.update_task(conn, task.id, attempt=1)
        dispatch_store.record_agent_branches(conn, task.id, [BRANCH], created_by="codegen", run_id="run-1")
        conn.execute(
            "insert into codegen_runs (task_id, attempt, provider, status) values (%s, 1, 'codegen', 'completed')",
            (task.id,),
        )
        validation_store.save_validation_run(
            conn,
            task_id=task.id,
            attempt=1,
            report=ValidationReport(verdict="passed", summary="1 passed", head_sha=head),
            status="passed",
            head_sha=head,
            started_at=datetime.now(UTC),
            pr_number=number,
        )
    world.update(task=task, number=number, head=head)
    world["fake"].clear_calls()
    return task


def end_green(world):
    on_status({"task_id": str(world["task"].id), "event": "workflow_succeeded"})
    with transaction() as conn:
        task = store.require_task(conn, world["task"].id)
    return task


def merge_calls(world):
    return [
        (call.method, call.path, call.body)
        for call in world["fake"].calls_to()
        if call.path == "/graphql" or call.path.endswith("/merge")
    ]


def status_comment(world) -> str:
    [body] = [c["body"] for c in world["repo"].comments.values() if c["user"]["type"] == "Bot"]
    return body


def check_run_summary(world) -> str:
    [run] = [r for r in world["repo"].check_runs.values() if r["app"]["slug"] == world["fake"].app_slug]
    return run["output"]["summary"]


def test_auto_merge_is_enabled_when_the_repository_allows_it(world):
    world["repo"].allow_auto_merge = True
    green_task(world, mergeable_state="blocked")  # a review is still required: GitHub waits for it

    task = end_green(world)

    [(method, path, body)] = merge_calls(world)
    assert (method, path) == ("POST", "/graphql")
    assert "enablePullRequestAutoMerge" in body["query"]
    assert body["variables"] == {
        "pullRequestId": f"PR_{world['repo'].id}_{world['number']}",
        "mergeMethod": "SQUASH",
        "expectedHeadOid": world["head"],  # the validated commit, and no other, may be merged
    }
    assert world["repo"].pulls[world["number"]]["auto_merge"]["merge_method"] == "squash"
    assert not world["repo"].pulls[world["number"]]["merged"]
    assert task.metadata["auto_merge"]["action"] == "auto_merge_enabled"
    assert "Auto-merge (squash) is on" in status_comment(world)
    assert "Auto-merge (squash) is on" in check_run_summary(world)


def test_auto_merge_is_not_enabled_when_the_head_moves_before_github_is_asked(world, monkeypatch):
    world["repo"].allow_auto_merge = True
    green_task(world, mergeable_state="blocked")
    asked_last = github.repository_allows_auto_merge

    def push_then_ask(*args, **kwargs):  # a push lands after codeloop read the head as validated
        world["repo"].commit_files(BRANCH, {"src/app.py": "x = 3\n"})
        return asked_last(*args, **kwargs)

    monkeypatch.setattr(github, "repository_allows_auto_merge", push_then_ask)

    task = end_green(world)

    assert world["repo"].pulls[world["number"]]["auto_merge"] is None
    [(method, path, body)] = merge_calls(world)
    assert (method, path) == ("POST", "/graphql")
    assert body["variables"]["expectedHeadOid"] == world["head"]
    assert task.metadata["auto_merge"]["action"] == "not_merged"
    assert "Head sha didn't match expected head sha" in task.metadata["auto_merge"]["reason"]


def test_merged_through_rest_when_auto_merge_is_off_and_everything_is_green(world):
    green_task(world)

    task = end_green(world)

    [(method, path, body)] = merge_calls(world)
    assert (method, path) == ("PUT", f"/repos/{REPO}/pulls/{world['number']}/merge")
    assert body == {"sha": world["head"], "merge_method": "squash"}
    assert world["repo"].pulls[world["number"]]["merged"]
    assert task.metadata["auto_merge"]["action"] == "merged"
    assert "Merged" in status_comment(world) and world["head"][:12] in status_comment(world)
    assert "Merged" in check_run_summary(world)


def test_a_clean_pull_request_is_merged_through_rest_when_github_declines_auto_merge(world):
    world["repo"].allow_auto_merge = True
    green_task(world)  # clean already: GitHub answers "Pull request is in clean status"

    end_green(world)

    assert [(m, p) for m, p, _ in merge_calls(world)] == [
        ("POST", "/graphql"),
        ("PUT", f"/repos/{REPO}/pulls/{world['number']}/merge"),
    ]
    assert world["repo"].pulls[world["number"]]["merged"]


def refused(world, reason: str) -> None:
    assert not world["repo"].pulls[world["number"]]["merged"]
    with transaction() as conn:
        outcome = store.require_task(conn, world["task"].id).metadata["auto_merge"]
    assert outcome["action"] == "not_merged"
    assert reason in outcome["reason"]
    assert "Not merged automatically" in status_comment(world) and reason in status_comment(world)
    assert reason in check_run_summary(world)


@pytest.mark.parametrize(
    ("pull_request", "reason"),
    [
        pytest.param({"fork": "stranger/widgets"}, "it comes from a fork", id="fork"),
        pytest.param({"user": "stranger"}, "not this task", id="not the task's own"),
        pytest.param(
            {"files": {".github/workflows/ci.yml": "on: push\n"}},
            "it changes protected paths",
            id="protected paths",
        ),
        pytest.param(
            {"files": TWO_FILES, "listed_files_limit": 1},  # as GitHub stops at 3,000
            "the file list is incomplete (GitHub lists 1 of 2 changed files)",
            id="file list cut short",
        ),
        pytest.param(
            {"mergeable_state": "blocked"},
            "a required review or required check is missing",
            id="GitHub reports it blocked",
        ),
    ],
)
def test_never_merged_and_the_reason_is_given(world, pull_request, reason):
    green_task(world, **pull_request)
    end_green(world)
    assert merge_calls(world) == []
    refused(world, reason)


def test_merged_when_github_lists_every_file(world):
    green_task(world, files=TWO_FILES, listed_files_limit=2)
    end_green(world)
    assert world["repo"].pulls[world["number"]]["merged"]


def test_never_with_a_red_check(world):
    world["repo"].allow_auto_merge = True
    green_task(world)
    world["repo"].check_runs[1] = {  # GitHub Actions' lint job failed on the validated head
        "id": 1,
        "name": "lint",
        "head_sha": world["head"],
        "status": "completed",
        "conclusion": "failure",
        "output": {"title": None, "summary": None, "text": None},
        "app": {"id": 15368, "slug": "github-actions", "name": "github-actions"},
        "pull_requests": [],
    }
    end_green(world)
    assert merge_calls(world) == []
    refused(world, "a check is failing on its head: lint")


def test_not_merged_when_github_requires_a_review(world):
    world["repo"].required_approving_reviews = 1  # GitHub's merge endpoint answers 405
    green_task(world)
    end_green(world)
    assert [(m, p) for m, p, _ in merge_calls(world)] == [
        ("PUT", f"/repos/{REPO}/pulls/{world['number']}/merge")
    ]
    refused(world, "At least 1 approving review is required")


def push_delivered(world, head: str, delivery_id: str) -> list[str]:
    """GitHub's ``pull_request.synchronize`` for the task's pull request, its head now ``head``."""
    repo, number = world["repo"], world["number"]
    payload = load("pull_request/synchronize.payload.json")
    payload["number"] = payload["pull_request"]["number"] = number
    payload["pull_request"]["node_id"] = f"PR_{repo.id}_{number}"
    payload["pull_request"]["head"] |= {"sha": head, "ref": BRANCH}
    payload["after"] = head
    payload["repository"] |= {"id": repo.id, "full_name": REPO}
    payload["installation"]["id"] = repo.installation_id
    with transaction() as conn:
        store.insert_delivery(
            conn,
            delivery_id=delivery_id,
            event="pull_request",
            action="synchronize",
            installation_id=repo.installation_id,
            repository_id=repo.id,
            repository_full_name=REPO,
            payload=payload,
        )
    return process_delivery(delivery_id)


def disable_calls(world) -> list[dict]:
    return [
        call.body["variables"]
        for call in world["fake"].calls_to("POST")
        if call.path == "/graphql" and "disablePullRequestAutoMerge" in call.body["query"]
    ]


def test_a_push_after_auto_merge_was_enabled_turns_it_off_once(world):
    world["repo"].allow_auto_merge = True
    green_task(world, mergeable_state="blocked")
    end_green(world)
    pushed = world["repo"].commit_files(BRANCH, {"src/app.py": "x = 3\n"})  # B: never validated

    outcomes = push_delivered(world, pushed, "push-1")
    again = push_delivered(world, pushed, "push-1-redelivered")

    assert disable_calls(world) == [{"pullRequestId": f"PR_{world['repo'].id}_{world['number']}"}]
    assert world["repo"].pulls[world["number"]]["auto_merge"] is None
    assert outcomes[0] == "auto-merge: turned off" and again[0] == "auto-merge: not turned on by codeloop"
    with transaction() as conn:
        outcome = store.require_task(conn, world["task"].id).metadata["auto_merge"]
    moved = f"its head moved to {pushed[:12]} after codeloop validated {world['head'][:12]}"
    assert (outcome["action"], outcome["reason"]) == ("auto_merge_disabled", moved)
    for rendered in (status_comment(world), check_run_summary(world)):
        assert "Auto-merge turned off for" in rendered and moved in rendered


def test_a_push_of_the_validated_head_leaves_auto_merge_on(world):
    world["repo"].allow_auto_merge = True
    green_task(world, mergeable_state="blocked")
    end_green(world)

    outcomes = push_delivered(world, world["head"], "push-same")

    assert disable_calls(world) == []
    assert world["repo"].pulls[world["number"]]["auto_merge"] is not None
    assert outcomes[0] == "auto-merge: stays on for the validated head"
    with transaction() as conn:
        assert (
            store.require_task(conn, world["task"].id).metadata["auto_merge"]["action"]
            == "auto_merge_enabled"
        )
