"""`/codeloop fix` and `retry` on a pull request from a fork: code from forks never runs with the
repository's secrets, so no agent works on it unless `.github/codeloop.yml` sets `validation.forks:
true`; and even then the prompt never sends the agent to the fork's branch (a name its author chose)."""

import pytest

from codeloop.db import store
from codeloop.db.pool import transaction
from codeloop.domain.models import TaskStatus
from codeloop.domain.prompts import AvailableTemplate, build_prompt
from codeloop.domain.repo_config import RepoConfig
from codeloop.services.prompting.context import gather
from codeloop.services.prompting.templates import load_templates
from tests.integration.ingress.test_requests import REPO, deliver, replies, tasks_in

CONFIG = "validation:\n  test: [pytest -q]\n"
OPTED_IN = "validation:\n  test: [pytest -q]\n  forks: true\n"


@pytest.fixture
def world(db_url, waiting_workflow, github_fake):
    repo = github_fake.add_repo(REPO, files={".github/codeloop.yml": CONFIG}, installation_id=957387)
    repo.set_permission("maintainer", "write")
    assert repo.add_issue() == 1
    fork_head = repo.commit_files("scratch/fork-head", {"src/app.py": "print('from the fork')\n"})
    number = repo.add_pull_request(
        "patch-1", user="stranger", fork="stranger/Hello-World", fork_head_sha=fork_head
    )
    assert number == 2  # the review comment payload's pull request
    return {"fake": github_fake, "repo": repo}


def opt_in(world, config: str = OPTED_IN) -> None:
    world["repo"].commit_files("main", {".github/codeloop.yml": config})


def command_on_the_fork_pull_request(world, body: str, delivery_id: str = "d-1") -> list[str]:
    comment_id = world["repo"].add_comment(2, body, login="maintainer")
    return deliver(
        world,
        "issue_comment/created.payload.json",
        delivery_id=delivery_id,
        issue__number=2,
        issue__pull_request={"url": f"{world['fake'].url}/repos/{REPO}/pulls/2"},
        comment__body=body,
        comment__id=comment_id,
        sender={"login": "maintainer", "type": "User", "id": 1},
    )


def test_a_fix_on_a_fork_pull_request_is_refused_politely_without_the_opt_in(world):
    assert command_on_the_fork_pull_request(world, "/codeloop fix") == ["refused: fork"]

    assert tasks_in(world) == []
    [reply] = replies(world)
    assert reply.startswith("Sorry @maintainer, this pull request comes from a fork")
    assert "`validation.forks: true` in `.github/codeloop.yml`" in reply


def test_a_fix_in_a_review_comment_on_a_fork_pull_request_is_refused_too(world):
    asked = world["repo"].add_review_comment(2, "/codeloop fix", "src/app.py", 1, login="maintainer")
    outcome = deliver(
        world,
        "pull_request_review_comment/created.payload.json",
        comment__body="/codeloop fix",
        comment__id=asked,
        sender={"login": "maintainer", "type": "User", "id": 1},
    )

    assert outcome == ["refused: fork"] and tasks_in(world) == []
    assert replies(world)[0].startswith("Sorry @maintainer, this pull request comes from a fork")


def test_with_the_opt_in_the_prompt_sends_the_agent_to_a_new_branch_of_codeloops_naming(world):
    opt_in(world)

    assert command_on_the_fork_pull_request(world, "/codeloop fix")[0].startswith("started ")

    [task] = tasks_in(world)
    with transaction() as conn:
        repository = store.get_repository(conn, task.repository_id)
    inputs = gather(task, repository, attempt=1).inputs
    templates = [AvailableTemplate(template=t, version=1) for t in load_templates()]
    prompt = build_prompt(templates, inputs, RepoConfig(), 60_000).text
    delivery = prompt[prompt.index("# Delivering the result") :]
    assert "Push your commits to the pull request's branch" not in prompt
    assert "patch-1" not in delivery  # the fork's branch is never a push target
    assert "from a new branch named `codeloop/fork-pr-2`" in delivery
    assert "pull/2/head" in delivery


def test_a_retry_of_a_fork_task_is_refused_once_the_opt_in_is_gone(world):
    opt_in(world)
    assert command_on_the_fork_pull_request(world, "/codeloop fix")[0].startswith("started ")
    [task] = tasks_in(world)
    with transaction() as conn:
        store.transition_task(conn, task.id, TaskStatus.FAILED, step="test", error="failed")
    opt_in(world, CONFIG)

    assert command_on_the_fork_pull_request(world, "/codeloop retry", delivery_id="d-2") == [
        "retry: refused: fork"
    ]

    [task] = tasks_in(world)
    assert (task.status, task.attempt) == ("failed", 1)
    assert replies(world)[-1].startswith("Sorry @maintainer, this pull request comes from a fork")
