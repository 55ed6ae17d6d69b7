"""Repository reads, pushing files through the Git Data API, and the App's webhook deliveries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from codeloop.adapters import github as gh
from tests.fakes.github import FakeRepo, GitHubFake, app_key_pair
from tests.integration.github.conftest import INSTALLATION, REPO


def test_a_missing_file_is_none(github_fake: GitHubFake, repo: FakeRepo):
    assert gh.get_file_content(INSTALLATION, REPO, ".github/missing.yml") is None
    assert gh.get_file_content(INSTALLATION, REPO, "README.md", ref="no-such-branch") is None


def test_a_file_at_a_ref(github_fake: GitHubFake, repo: FakeRepo):
    repo.commit_files("feature", {"README.md": "changed\n"})

    assert gh.get_file_content(INSTALLATION, REPO, "README.md", ref="feature") == "changed\n"
    assert gh.get_file_content(INSTALLATION, REPO, "README.md") == "# hello\n"


def test_repository_languages_and_tree(github_fake: GitHubFake, repo: FakeRepo):
    repo.languages = {"Python": 900, "Shell": 100}

    repository = gh.get_repository(INSTALLATION, REPO)
    tree = gh.get_tree(INSTALLATION, REPO, repository.default_branch)

    assert (repository.full_name, repository.default_branch, repository.owner_login) == (REPO, "main", "octo")
    assert repository.clone_url == f"{github_fake.web_url}/{REPO}.git"
    assert gh.get_languages(INSTALLATION, REPO) == {"Python": 900, "Shell": 100}
    assert [(e.path, e.type) for e in tree.entries] == [
        (".github", "tree"),
        (".github/codeloop.yml", "blob"),
        ("README.md", "blob"),
        ("src", "tree"),
        ("src/app.py", "blob"),
    ]
    assert not tree.truncated


def test_recent_commits_for_a_path(github_fake: GitHubFake, repo: FakeRepo):
    repo.commit_files("main", {"src/app.py": "print('v2')\n"}, "Change the app")
    repo.commit_files("main", {"README.md": "docs\n"}, "Docs")
    repo.commit_files("main", {"src/util.py": "x = 1\n"}, "Add util")

    assert [c.message for c in gh.list_commits(INSTALLATION, REPO, path="src")] == [
        "Add util",
        "Change the app",
        "Initial commit",
    ]
    assert [c.message for c in gh.list_commits(INSTALLATION, REPO, limit=2)] == ["Add util", "Docs"]


def test_a_pull_request_its_files_and_diff(github_fake: GitHubFake, repo: FakeRepo):
    repo.commit_files("fix", {"src/app.py": "print('fixed')\n", "NEW.md": "new\n", "README.md": None})
    number = repo.add_pull_request("fix", title="Fix the app")

    pull = gh.get_pull_request(INSTALLATION, REPO, number)
    files = gh.list_pull_request_files(INSTALLATION, REPO, number)
    diff = gh.get_pull_request_diff(INSTALLATION, REPO, number)

    assert (pull.title, pull.head_ref, pull.head_sha, pull.base_ref) == (
        "Fix the app",
        "fix",
        repo.refs["fix"],
        "main",
    )
    assert pull.head_repo_full_name == REPO
    assert [(f.filename, f.status) for f in files] == [
        ("NEW.md", "added"),
        ("README.md", "removed"),
        ("src/app.py", "modified"),
    ]
    assert "+print('fixed')" in diff and "diff --git a/src/app.py b/src/app.py" in diff
    accepts = [c.headers["accept"] for c in github_fake.calls_to("GET", f"/repos/octo/hello/pulls/{number}")]
    assert accepts == [gh.ACCEPT_JSON, gh.ACCEPT_DIFF]


def test_many_pull_request_files_are_read_page_by_page(github_fake: GitHubFake, repo: FakeRepo):
    repo.commit_files("big", {f"gen/file_{n:03}.txt": f"{n}\n" for n in range(230)})
    number = repo.add_pull_request("big")

    files = gh.list_pull_request_files(INSTALLATION, REPO, number)

    assert len(files) == 230
    assert len(github_fake.calls_to("GET", f"/repos/octo/hello/pulls/{number}/files")) == 3


def test_push_branch_with_files_creates_blobs_tree_commit_and_branch(github_fake: GitHubFake, repo: FakeRepo):
    base = repo.refs["main"]

    head = gh.push_branch_with_files(
        INSTALLATION,
        REPO,
        "main",
        "codeloop/task-1",
        {"src/app.py": "print('new')\n", "docs/how.md": "how\n", "README.md": None},
        "codeloop: task 1",
    )

    assert github_fake.branch_files(REPO, "codeloop/task-1") == {
        ".github/codeloop.yml": "iterations: 2\n",
        "src/app.py": "print('new')\n",
        "docs/how.md": "how\n",
    }
    assert repo.refs["codeloop/task-1"] == head
    assert repo.commits[head]["parents"] == [base]
    assert [c.path for c in github_fake.calls_to("POST", r"/repos/octo/hello/git/.*")] == [
        "/repos/octo/hello/git/blobs",
        "/repos/octo/hello/git/blobs",
        "/repos/octo/hello/git/trees",
        "/repos/octo/hello/git/commits",
        "/repos/octo/hello/git/refs",
    ]
    assert github_fake.branch_files(REPO, "main")["README.md"] == "# hello\n"


def test_a_second_push_fast_forwards_the_branch(github_fake: GitHubFake, repo: FakeRepo):
    first = gh.push_branch_with_files(INSTALLATION, REPO, "main", "work", {"a.txt": "1\n"}, "one")
    second = gh.push_branch_with_files(
        INSTALLATION, REPO, "main", "work", {"b.txt": "2\n"}, "two", new_branch=False
    )

    assert repo.commits[second]["parents"] == [first]
    assert {"a.txt", "b.txt"} <= set(github_fake.branch_files(REPO, "work"))
    assert github_fake.calls_to("PATCH", "/repos/octo/hello/git/refs/heads/work")[0].body == {
        "sha": second,
        "force": False,
    }


def test_a_new_branch_that_already_exists_is_refused_before_anything_is_written(
    github_fake: GitHubFake, repo: FakeRepo
):
    theirs = repo.commit_files("work", {"a.txt": "someone else's\n"})
    github_fake.clear_calls()

    with pytest.raises(gh.GitHubError, match="already exists; codeloop pushes only to branches it created"):
        gh.push_branch_with_files(INSTALLATION, REPO, "main", "work", {"a.txt": "1\n"}, "one")

    assert repo.refs["work"] == theirs
    assert [(c.method, c.path) for c in github_fake.calls if not c.path.startswith("/app/")] == [
        ("GET", "/repos/octo/hello/git/ref/heads/work")
    ]


def test_pushed_files_get_the_modes_asked_for(github_fake: GitHubFake, repo: FakeRepo):
    gh.push_branch_with_files(
        INSTALLATION,
        REPO,
        "main",
        "work",
        {"run.sh": "echo hi\n", "notes.txt": "n\n"},
        "one",
        modes={"run.sh": "100755", "notes.txt": "100644"},
    )

    assert (repo.mode_at("work", "run.sh"), repo.mode_at("work", "notes.txt")) == ("100755", "100644")
    [tree] = github_fake.calls_to("POST", "/repos/octo/hello/git/trees")
    assert [(e["path"], e["mode"]) for e in tree.body["tree"]] == [
        ("run.sh", "100755"),
        ("notes.txt", "100644"),
    ]
    entries = {e.path: e.mode for e in gh.get_tree(INSTALLATION, REPO, "work").entries}
    assert entries["run.sh"] == "100755"


@pytest.mark.parametrize("crafted", ["a/../../../../user", "../../../../app", "x/./y", "a//b"])
def test_a_path_that_would_climb_to_another_route_is_no_file_and_never_sent(
    github_fake: GitHubFake, repo: FakeRepo, crafted: str
):
    github_fake.clear_calls()

    assert gh.get_file_content(INSTALLATION, REPO, crafted) is None

    assert [c for c in github_fake.calls if not c.path.startswith("/app/")] == []


@pytest.mark.parametrize(
    ("crafted", "sent_path"),
    [
        ("x?ref=y", "/repos/octo/hello/contents/x%3Fref%3Dy"),
        ("%2e%2e/%2e%2e/user", "/repos/octo/hello/contents/%252e%252e/%252e%252e/user"),
        ("a#b", "/repos/octo/hello/contents/a%23b"),
        ("docs/a b.md", "/repos/octo/hello/contents/docs/a%20b.md"),
    ],
)
def test_every_path_segment_is_percent_encoded_so_it_stays_a_contents_read(
    github_fake: GitHubFake, repo: FakeRepo, crafted: str, sent_path: str
):
    repo.commit_files("main", {crafted: "odd but legal\n"})
    github_fake.clear_calls()

    assert gh.get_file_content(INSTALLATION, REPO, crafted, ref="main") == "odd but legal\n"

    [call] = [c for c in github_fake.calls if not c.path.startswith("/app/")]
    assert (call.method, call.path, call.query) == ("GET", sent_path, {"ref": ["main"]})


def test_push_to_a_missing_base_branch_is_not_found(github_fake: GitHubFake, repo: FakeRepo):
    with pytest.raises(gh.GitHubNotFound):
        gh.push_branch_with_files(INSTALLATION, REPO, "nope", "work", {"a.txt": "1\n"}, "one")


def test_create_pull_request_and_again_returns_the_open_one(github_fake: GitHubFake, repo: FakeRepo):
    gh.push_branch_with_files(INSTALLATION, REPO, "main", "work", {"a.txt": "1\n"}, "one")

    pull = gh.create_pull_request(
        INSTALLATION, REPO, head="work", base="main", title="Work", body="Does work"
    )
    again = gh.create_pull_request(
        INSTALLATION, REPO, head="work", base="main", title="Work", body="Does work"
    )

    assert pull.number == again.number
    assert (pull.head_ref, pull.base_ref, repo.pulls[pull.number]["body"]) == ("work", "main", "Does work")
    assert len(repo.pulls) == 1


def test_deliveries_are_listed_newest_first_with_the_app_jwt(github_fake: GitHubFake):
    now = datetime.now(UTC)
    for n in range(150):
        github_fake.add_delivery(
            delivered_at=now - timedelta(minutes=150 - n), status_code=200 if n % 2 else 500
        )

    deliveries = gh.list_hook_deliveries()
    recent = gh.list_hook_deliveries(since=now - timedelta(minutes=10, seconds=30))

    assert len(deliveries) == 150
    assert [d.id for d in deliveries] == sorted((d["id"] for d in github_fake.deliveries), reverse=True)
    assert len(recent) == 10
    calls = github_fake.calls_to("GET", "/app/hook/deliveries")
    assert [c.query.get("cursor") is not None for c in calls] == [False, True, False]
    for call in calls:
        scheme, _, credential = call.headers["authorization"].partition(" ")
        assert scheme == "Bearer"
        assert jwt.decode(credential, app_key_pair()[1], algorithms=["RS256"])["iss"] == str(
            github_fake.app_id
        )
    assert github_fake.calls_to("POST", r"/app/installations/.*") == []


def test_redeliver_with_the_app_jwt(github_fake: GitHubFake):
    failed = github_fake.add_delivery(status_code=502)

    gh.redeliver_hook_delivery(failed["id"])

    assert github_fake.redelivered == [failed["id"]]
    call = github_fake.calls_to("POST", f"/app/hook/deliveries/{failed['id']}/attempts")[0]
    assert call.headers["authorization"].startswith("Bearer ") and call.status == 202
    newest = gh.list_hook_deliveries(limit=1)[0]
    assert (newest.guid, newest.redelivery) == (failed["guid"], True)
