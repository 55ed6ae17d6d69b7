"""Only the agent's own pull request becomes the task's, and codeloop pushes only to branches it
saw its agent create (issue 10: a fork PR naming the run became the task's PR, and the next fix
attempt pushed onto ``main``)."""

import json

import pytest

from codeloop.db import dispatch_store, store
from codeloop.db.pool import transaction
from codeloop.domain.adoption import PullRequestFacts
from codeloop.services.agents.runs import on_agent_pull_request, sweep_codegen_runs
from codeloop.settings import reset_settings
from tests.conftest import wait_for_execution
from tests.integration.dispatch.conftest import REPO, dispatch, start_task, take_one

AGENT = "codegen-sh[bot]"  # CODEGEN_BOT_LOGINS' default
FIX = (
    "Return None for empty input.\n```diff\n--- a/src/widgets/core.py\n+++ b/src/widgets/core.py\n"
    "@@ -1,2 +1,4 @@\n def parse(text):\n+    if not text:\n+        return None\n     return text.split()[0]\n```\n"
)


def started_run(world):
    task, message = start_task(world)
    assert dispatch(world, message) == {"batchItemFailures": []}
    [run_id] = world["codegen"].runs
    return task, run_id


def run_of(task):
    with transaction() as conn:
        return dispatch_store.get_run(conn, task.id, 1)


def stored_task(task):
    with transaction() as conn:
        return store.require_task(conn, task.id)


def report_branch(world, run_id: int, number: int, branch: str) -> None:
    world["codegen"].attach_pull_request(
        run_id, url=f"https://github.com/{REPO}/pull/{number}", title="Fix", head_branch=branch
    )


def commit(world, branch: str) -> str:
    return world["repo"].commit_files(branch, {"src/widgets/core.py": "def parse(text):\n    return None\n"})


def step_error(task) -> str:
    """What the ledger recorded for the failed step (the emulator drops SendTaskFailure's cause)."""
    with transaction() as conn:
        return conn.execute(
            "select s.error from workflow_steps s join workflow_executions e on e.id = s.execution_id "
            "where e.task_id = %s and s.status = 'failed'",
            (task.id,),
        ).fetchone()["error"]


def assert_not_adopted(task) -> None:
    run = run_of(task)
    assert run.answered_at is None and run.pr_number is None
    stored = stored_task(task)
    assert (stored.pr_number, stored.branch) == (None, None)


def test_a_fork_pull_request_naming_the_run_with_a_branch_called_main_is_ignored(world):
    task, run_id = started_run(world)
    web_url = world["codegen"].runs[run_id]["web_url"]
    fork_head = commit(world, "scratch/fork-head")
    number = world["repo"].add_pull_request(
        head="main",
        user="stranger",
        body=f"Made by Codegen: {web_url}",
        fork="stranger/widgets",
        fork_head_sha=fork_head,
    )
    pull = PullRequestFacts(
        repository=REPO,
        number=number,
        head_branch="main",
        head_repository="stranger/widgets",
        author="stranger",
    )

    assert not on_agent_pull_request(pull, fork_head)

    assert_not_adopted(task)


def test_a_fork_is_ignored_even_on_a_branch_name_the_agent_reported(world):
    task, run_id = started_run(world)
    fork_head = commit(world, "scratch/fork-head")
    number = world["repo"].add_pull_request(
        head="codegen/fix", user=AGENT, fork="stranger/widgets", fork_head_sha=fork_head
    )
    report_branch(world, run_id, number, "codegen/fix")
    pull = PullRequestFacts(
        repository=REPO,
        number=number,
        head_branch="codegen/fix",
        head_repository="stranger/widgets",
        author=AGENT,
    )

    assert not on_agent_pull_request(pull, fork_head)

    assert_not_adopted(task)


def test_a_pull_request_by_another_author_on_the_agents_branch_is_ignored_and_the_agents_own_is_adopted(
    world,
):
    task, run_id = started_run(world)
    head = commit(world, "codegen/fix")
    report_branch(world, run_id, 99, "codegen/fix")
    theirs = world["repo"].add_pull_request(head="codegen/fix", user="octocat")

    def facts(number: int, author: str) -> PullRequestFacts:
        return PullRequestFacts(
            repository=REPO, number=number, head_branch="codegen/fix", head_repository=REPO, author=author
        )

    assert not on_agent_pull_request(facts(theirs, "octocat"), head)
    assert_not_adopted(task)

    world["repo"].pulls[theirs]["state"] = "closed"
    ours = world["repo"].add_pull_request(head="codegen/fix", user=AGENT)
    assert on_agent_pull_request(facts(ours, AGENT), head)

    validate = json.loads(take_one(world["aws"]["VALIDATION_QUEUE_URL"])["Body"])
    assert (validate["pr_number"], validate["head_sha"]) == (ours, head)
    assert (stored_task(task).pr_number, stored_task(task).branch) == (ours, "codegen/fix")


def test_a_branch_that_names_the_run_is_not_the_agents_until_the_run_reports_it(world):
    task, run_id = started_run(world)
    branch = f"codegen-bot/run-{run_id}"
    head = commit(world, branch)
    number = world["repo"].add_pull_request(head=branch, user=AGENT)
    pull = PullRequestFacts(
        repository=REPO, number=number, head_branch=branch, head_repository=REPO, author=AGENT
    )

    assert not on_agent_pull_request(pull, head)  # the run was read afresh: it reports no branch
    assert_not_adopted(task)

    report_branch(world, run_id, number, branch)
    assert on_agent_pull_request(pull, head)
    with transaction() as conn:
        assert dispatch_store.agent_branches(conn, task.id) == [branch]


def test_the_sweeper_refuses_a_reported_pull_request_that_is_not_the_agents(world):
    task, run_id = started_run(world)
    commit(world, "codegen/fix")
    number = world["repo"].add_pull_request(head="codegen/fix", user="octocat")
    report_branch(world, run_id, number, "codegen/fix")
    world["codegen"].complete_run(run_id)

    assert sweep_codegen_runs().failed == 1

    described = wait_for_execution(task.workflow_execution_arn, "FAILED")
    assert described["error"] == "PullRequestNotAdopted"
    assert step_error(task) == (
        f"PullRequestNotAdopted: run {run_id} reports {REPO}#{number}: "
        "its author 'octocat' is not the agent's bot (codegen-sh[bot])"
    )
    assert stored_task(task).branch is None


# -- the Linear issue named in the agent's pull request ---------------------------------------------

LINEAR_TASK = {"linear": {"identifier": "ENG-123", "number": 123, "url": "https://linear.app/acme/issue/ENG-123"}}


def adopt_with_body(world, body: str | None) -> tuple[int, list]:
    """A Linear task's run answered with the agent's PR whose description is ``body``; the PATCHes of it."""
    task, message = start_task(world, metadata=LINEAR_TASK)
    assert dispatch(world, message) == {"batchItemFailures": []}
    [run_id] = world["codegen"].runs
    head = commit(world, "codegen/fix")
    number = world["repo"].add_pull_request(head="codegen/fix", user=AGENT, body=body)
    report_branch(world, run_id, number, "codegen/fix")
    pull = PullRequestFacts(
        repository=REPO, number=number, head_branch="codegen/fix", head_repository=REPO, author=AGENT
    )
    assert on_agent_pull_request(pull, head)
    assert stored_task(task).pr_number == number
    return number, world["github"].calls_to("PATCH", rf"/repos/{REPO}/pulls/{number}")


@pytest.mark.parametrize("body", ["Fix add.\n\nFixes ENG-123", "Closes eng-123: add() adds again."])
def test_an_agent_pull_request_that_names_the_linear_issue_is_left_as_it_is(world, body):
    number, patches = adopt_with_body(world, body)
    assert patches == []
    assert world["repo"].pulls[number]["body"] == body


@pytest.mark.parametrize(
    ("body", "patched"),
    [("Fix add.\n", "Fix add.\n\nFixes ENG-123"), (None, "Fixes ENG-123"), ("Fixes ENG-1234", None)],
)
def test_an_agent_pull_request_that_does_not_name_the_linear_issue_gets_the_line(world, body, patched):
    number, [patch] = adopt_with_body(world, body)
    assert patch.body == {"body": patched or "Fixes ENG-1234\n\nFixes ENG-123"}
    assert world["repo"].pulls[number]["body"] == patch.body["body"]


def test_github_refusing_the_linear_line_does_not_hold_up_the_run(world):
    world["github"].fail_next(1, 403, path_prefix=f"/repos/{REPO}/pulls/")
    number, patches = adopt_with_body(world, "Fix add.")
    assert patches == [] and world["repo"].pulls[number]["body"] == "Fix add."
    validate = json.loads(take_one(world["aws"]["VALIDATION_QUEUE_URL"])["Body"])
    assert validate["pr_number"] == number


# -- pushing: only to branches codeloop saw its agent create -----------------------------------------


@pytest.fixture
def diff_provider_only(world, monkeypatch):
    monkeypatch.setenv("PROVIDERS", "openai")
    reset_settings()
    world["openai"].script(FIX)
    return world


def test_a_fix_attempt_never_pushes_to_a_branch_codeloop_did_not_create(diff_provider_only):
    world = diff_provider_only
    main_before = world["repo"].refs["main"]
    task, message = start_task(world)
    with transaction() as conn:  # what adopting the fork PR of the issue left behind
        store.update_task(conn, task.id, branch="main")

    assert dispatch(world, message) == {"batchItemFailures": []}

    own = f"codeloop/task-{str(task.id)[:8]}"
    assert world["repo"].refs["main"] == main_before
    assert world["github"].calls_to("PATCH", r"/repos/octo/widgets/git/refs/heads/.*") == []
    [created] = world["github"].calls_to("POST", "/repos/octo/widgets/git/refs")
    assert created.body["ref"] == f"refs/heads/{own}"
    [pull] = world["repo"].pulls.values()
    assert pull["head"] == own
    with transaction() as conn:
        assert dispatch_store.agent_branches(conn, task.id) == [own]


def test_a_fix_attempt_pushes_onto_the_branch_the_agent_created(diff_provider_only):
    world = diff_provider_only
    task, message = start_task(world)
    before = world["repo"].commit_files("codegen/fix", {"NOTES.md": "the agent's first attempt\n"})
    with transaction() as conn:
        store.update_task(conn, task.id, branch="codegen/fix")
        dispatch_store.record_agent_branches(conn, task.id, ["codegen/fix"], created_by="codegen", run_id="7")

    assert dispatch(world, message) == {"batchItemFailures": []}

    [patched] = world["github"].calls_to("PATCH", r"/repos/octo/widgets/git/refs/heads/.*")
    assert patched.path == "/repos/octo/widgets/git/refs/heads/codegen/fix"
    assert world["repo"].commits[world["repo"].refs["codegen/fix"]]["parents"] == [before]


def test_a_branch_of_codeloops_name_that_someone_else_created_is_not_pushed_to(diff_provider_only):
    world = diff_provider_only
    task, message = start_task(world)
    squatted = commit(world, f"codeloop/task-{str(task.id)[:8]}")

    assert dispatch(world, message) == {"batchItemFailures": []}

    described = wait_for_execution(task.workflow_execution_arn, "FAILED")
    assert described["error"] == "PushFailed"
    assert "already exists; codeloop pushes only to branches it created" in run_of(task).error
    assert world["repo"].refs[f"codeloop/task-{str(task.id)[:8]}"] == squatted
    assert world["github"].calls_to("POST", r"/repos/octo/widgets/git/.*") == []
