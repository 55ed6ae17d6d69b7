"""Check runs (annotations in batches of 50, GitHub's limits), the task's comment, reactions, roles."""

from __future__ import annotations

import pytest

from codeloop.adapters import github as gh
from codeloop.domain.report import task_marker
from tests.fakes.github import FakeRepo, GitHubFake
from tests.integration.github.conftest import INSTALLATION, REPO

CHECK_RUNS = "/repos/octo/hello/check-runs"


def annotations(count: int) -> list[gh.Annotation]:
    return [
        gh.Annotation(
            path="src/app.py", start_line=n, end_line=n, annotation_level="failure", message=f"failure {n}"
        )
        for n in range(1, count + 1)
    ]


def output(count: int, **changes: str) -> gh.CheckRunOutput:
    fields = {"title": "Tests failed", "summary": "3 of 9 failed", "text": "details"} | changes
    return gh.CheckRunOutput(**fields, annotations=annotations(count))


def test_a_check_run_is_created_with_its_output_actions_and_ids(github_fake: GitHubFake, repo: FakeRepo):
    head = repo.refs["main"]
    run = gh.create_check_run(
        INSTALLATION,
        REPO,
        name="codeloop / validation",
        head_sha=head,
        status="in_progress",
        output=output(3),
        actions=[gh.CheckRunAction(label="Retry", description="Run the task again", identifier="retry")],
        details_url="https://codeloop.example/tasks/7",
        external_id="task-7",
    )

    assert (run.name, run.head_sha, run.status, run.external_id) == (
        "codeloop / validation",
        head,
        "in_progress",
        "task-7",
    )
    stored = repo.check_runs[run.id]
    assert stored["details_url"] == "https://codeloop.example/tasks/7"
    assert stored["actions"] == [
        {"label": "Retry", "description": "Run the task again", "identifier": "retry"}
    ]
    assert [a["message"] for a in repo.annotations_of(run.id)] == ["failure 1", "failure 2", "failure 3"]
    assert len(github_fake.calls_to("POST", CHECK_RUNS)) == 1
    assert github_fake.calls_to("PATCH", CHECK_RUNS + "/.*") == []


def test_120_annotations_go_in_three_patches_of_at_most_50(github_fake: GitHubFake, repo: FakeRepo):
    run = gh.create_check_run(INSTALLATION, REPO, name="codeloop", head_sha=repo.refs["main"])

    updated = gh.update_check_run(
        INSTALLATION, REPO, run.id, status="completed", conclusion="failure", output=output(120)
    )

    patches = github_fake.calls_to("PATCH", f"{CHECK_RUNS}/{run.id}")
    assert [len(call.body["output"]["annotations"]) for call in patches] == [50, 50, 20]
    assert all(call.body["output"]["title"] == "Tests failed" for call in patches)
    assert patches[0].body["conclusion"] == "failure"
    assert [a["message"] for a in repo.annotations_of(run.id)] == [f"failure {n}" for n in range(1, 121)]
    assert updated.conclusion == "failure"


def test_a_check_run_created_with_many_annotations_continues_in_patches(
    github_fake: GitHubFake, repo: FakeRepo
):
    run = gh.create_check_run(
        INSTALLATION,
        REPO,
        name="codeloop",
        head_sha=repo.refs["main"],
        status="completed",
        conclusion="failure",
        output=output(51),
    )

    assert len(github_fake.calls_to("POST", CHECK_RUNS)[0].body["output"]["annotations"]) == 50
    assert [
        len(c.body["output"]["annotations"]) for c in github_fake.calls_to("PATCH", f"{CHECK_RUNS}/{run.id}")
    ] == [1]
    assert len(repo.annotations_of(run.id)) == 51


def test_output_beyond_githubs_limit_is_trimmed(github_fake: GitHubFake, repo: FakeRepo):
    run = gh.create_check_run(
        INSTALLATION,
        REPO,
        name="codeloop",
        head_sha=repo.refs["main"],
        output=output(0, summary="s" * 70_000, text="t" * 100_000),
    )

    stored = repo.check_runs[run.id]["output"]
    assert len(stored["summary"]) == len(stored["text"]) == gh.GITHUB_TEXT_LIMIT
    assert stored["text"].endswith("(truncated)")


def test_more_than_three_actions_is_refused_before_calling_github(github_fake: GitHubFake, repo: FakeRepo):
    action = gh.CheckRunAction(label="Retry", description="again", identifier="retry")
    with pytest.raises(ValueError, match="at most 3"):
        gh.create_check_run(
            INSTALLATION, REPO, name="codeloop", head_sha=repo.refs["main"], actions=[action] * 4
        )

    assert github_fake.calls_to("POST", CHECK_RUNS) == []


def test_check_runs_and_suites_of_a_ref(github_fake: GitHubFake, repo: FakeRepo):
    head = repo.refs["main"]
    repo.add_check_suite(head, app_slug="github-actions", status="completed", conclusion="failure")
    ours = gh.create_check_run(INSTALLATION, REPO, name="codeloop", head_sha=head)

    runs = gh.list_check_runs(INSTALLATION, REPO, "main")
    suites = gh.list_check_suites(INSTALLATION, REPO, head)

    assert [run.id for run in runs] == [ours.id]
    assert (runs[0].app_slug, runs[0].app_id) == (github_fake.app_slug, github_fake.app_id)
    assert sorted((s.app_slug, s.app_id, s.conclusion) for s in suites) == [
        ("codeloop", github_fake.app_id, None),
        ("github-actions", 15368, "failure"),
    ]


def test_the_task_comment_is_created_once_then_updated(github_fake: GitHubFake, repo: FakeRepo):
    number = repo.add_issue()
    marker = task_marker(42)
    repo.add_comment(number, f"someone quoting {marker}", login="mallory")  # not the bot's: never edited

    created = gh.upsert_marked_comment(INSTALLATION, REPO, number, marker, f"{marker}\nQueued")
    updated = gh.upsert_marked_comment(INSTALLATION, REPO, number, marker, f"{marker}\nRunning")
    unchanged = gh.upsert_marked_comment(INSTALLATION, REPO, number, marker, f"{marker}\nRunning")

    assert created.id == updated.id == unchanged.id
    assert repo.comments[created.id]["body"] == f"{marker}\nRunning"
    assert len(github_fake.calls_to("POST", f"/repos/octo/hello/issues/{number}/comments")) == 1
    assert len(github_fake.calls_to("PATCH", f"/repos/octo/hello/issues/comments/{created.id}")) == 1
    assert [c["body"] for c in repo.comments.values() if c["user"]["login"] == "mallory"] == [
        f"someone quoting {marker}"
    ]


def test_a_body_without_the_marker_gets_it_first_so_trimming_keeps_it(
    github_fake: GitHubFake, repo: FakeRepo
):
    number = repo.add_issue()
    marker = task_marker("t-1")

    comment = gh.upsert_marked_comment(INSTALLATION, REPO, number, marker, "x" * 80_000)

    body = repo.comments[comment.id]["body"]
    assert body.startswith(marker) and len(body) <= gh.GITHUB_TEXT_LIMIT
    assert gh.find_comment_with_marker(INSTALLATION, REPO, number, marker).id == comment.id


def test_the_marker_is_searched_from_the_newest_page(github_fake: GitHubFake, repo: FakeRepo):
    number = repo.add_issue()
    for n in range(250):
        repo.add_comment(number, f"comment {n}")
    marker = task_marker(7)
    wanted = repo.add_comment(number, f"{marker}\nstatus", login="codeloop[bot]", user_type="Bot")

    found = gh.find_comment_with_marker(INSTALLATION, REPO, number, marker)

    assert found is not None and found.id == wanted
    pages = [
        c.query.get("page", ["1"])[0]
        for c in github_fake.calls_to("GET", f"/repos/octo/hello/issues/{number}/comments")
    ]
    assert pages == ["1", "3"]


def test_no_marked_comment_is_none(github_fake: GitHubFake, repo: FakeRepo):
    number = repo.add_issue()
    repo.add_comment(number, "hello")

    assert gh.find_comment_with_marker(INSTALLATION, REPO, number, task_marker(1)) is None


def test_eyes_on_the_request(github_fake: GitHubFake, repo: FakeRepo):
    number = repo.add_issue()
    comment_id = repo.add_comment(number, "/codeloop fix the tests")

    gh.add_reaction_to_comment(INSTALLATION, REPO, comment_id)

    assert [(r["content"], r["user"]["type"]) for r in repo.reactions[comment_id]] == [("eyes", "Bot")]


@pytest.mark.parametrize(
    ("permission", "role_name", "expected"),
    [
        ("write", "maintain", "maintain"),
        ("read", "triage", "triage"),
        ("write", "security-reviewer", "write"),
        ("admin", None, "admin"),
    ],
)
def test_collaborator_role(
    github_fake: GitHubFake, repo: FakeRepo, permission: str, role_name: str | None, expected: str
):
    repo.set_permission("alice", permission, role_name)

    assert gh.collaborator_permission(INSTALLATION, REPO, "alice") == expected
    assert gh.collaborator_permission(INSTALLATION, REPO, "stranger") == "none"
