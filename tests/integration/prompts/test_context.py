"""Context gathering against the GitHub fake: the exact calls, conditional requests, pieces left out."""

from codeloop.services.prompting.context import gather, mentioned_paths, spec_complexity
from tests.integration.prompts.conftest import INSTALLATION, REPO, insert_task, repository

BASE = f"/repos/{REPO}"


def reads(fake) -> list[tuple[str, str, dict, int]]:
    return [(c.method, c.path, c.query, c.status) for c in fake.calls]


def test_a_task_naming_a_file_reads_exactly_these_and_a_second_build_revalidates_with_304s(world):
    fake = world["fake"]
    task = insert_task(world)
    gathered = gather(task, repository(world), attempt=1)

    assert [(m, p, q) for m, p, q, _ in reads(fake)] == [
        ("POST", f"/app/installations/{INSTALLATION}/access_tokens", {}),
        ("GET", BASE, {}),
        ("GET", f"{BASE}/languages", {}),
        ("GET", f"{BASE}/git/trees/main", {"recursive": ["1"]}),
        ("GET", f"{BASE}/contents/README.md", {"ref": ["main"]}),
        ("GET", f"{BASE}/contents/src/widgets/core.py", {"ref": ["main"]}),
        ("GET", f"{BASE}/contents/pyproject.toml", {"ref": ["main"]}),
        ("GET", f"{BASE}/commits", {"per_page": ["5"], "path": ["src/widgets/core.py"], "sha": ["main"]}),
    ]
    # one token for the whole build, asked for the read permissions only
    assert fake.calls[0].body["permissions"] == {
        "metadata": "read",
        "contents": "read",
        "pull_requests": "read",
    }
    inputs = gathered.inputs
    assert inputs.repository.languages == {"Python": 1000}
    assert inputs.readme.startswith("# widgets")
    assert [f.path for f in inputs.files] == ["src/widgets/core.py"]
    assert [m.path for m in inputs.manifests] == ["pyproject.toml"]
    assert [c.message for c in inputs.commits] == ["Initial commit"]
    assert "tests/test_core.py" in inputs.file_tree
    assert inputs.task.type == "bug_fix" and inputs.task.complexity == 2
    assert inputs.task.request.startswith("Fix the crash on empty input\n\nparse() in core.py")
    assert {m.name: m.outcome for m in gathered.measures} == {
        "repository": "ok",
        "file_tree": "ok",
        "readme:README.md": "ok",
        "file:src/widgets/core.py": "ok",
        "manifest:pyproject.toml": "ok",
        "commits:src/widgets/core.py": "ok",
    }
    assert all(m.chars > 0 and m.ms >= 0 for m in gathered.measures)

    fake.clear_calls()
    again = gather(task, repository(world), attempt=1)
    assert [(m, p) for m, p, _, _ in reads(fake)] == [
        (m, p)
        for m, p, _ in [
            ("GET", BASE, {}),
            ("GET", f"{BASE}/languages", {}),
            ("GET", f"{BASE}/git/trees/main", {}),
            ("GET", f"{BASE}/contents/README.md", {}),
            ("GET", f"{BASE}/contents/src/widgets/core.py", {}),
            ("GET", f"{BASE}/contents/pyproject.toml", {}),
            ("GET", f"{BASE}/commits", {}),
        ]
    ]
    assert {status for *_, status in reads(fake)} == {304}
    assert all("if-none-match" in c.headers for c in fake.calls)
    assert again.inputs == gathered.inputs


def test_a_pull_request_task_reads_the_pr_its_changed_files_and_its_diff(world):
    fake, repo = world["fake"], world["repo"]
    head = repo.commit_files("fix-empty", {"src/widgets/core.py": "def parse(text):\n    return None\n"})
    number = repo.add_pull_request("fix-empty", title="Handle empty input")
    task = insert_task(world, pr_number=number, issue_number=number, source="comment", description="")
    gathered = gather(task, repository(world), attempt=1)

    paths = [(c.path, c.headers.get("accept")) for c in fake.calls if c.method == "GET"]
    assert paths[:5] == [
        (BASE, "application/vnd.github+json"),
        (f"{BASE}/languages", "application/vnd.github+json"),
        (f"{BASE}/pulls/{number}", "application/vnd.github+json"),
        (f"{BASE}/pulls/{number}/files", "application/vnd.github+json"),
        (f"{BASE}/pulls/{number}", "application/vnd.github.diff"),
    ]
    tree_call = next(c for c in fake.calls if "/git/trees/" in c.path)
    assert tree_call.path == f"{BASE}/git/trees/{head}"  # the PR's head, not the default branch
    inputs = gathered.inputs
    assert inputs.task.pull_request.number == number
    assert inputs.task.pull_request.head_sha == head
    assert inputs.task.issue is None
    assert "diff --git a/src/widgets/core.py" in inputs.diff
    assert [f.path for f in inputs.files] == ["src/widgets/core.py"]
    assert inputs.files[0].content == "def parse(text):\n    return None\n"
    # a comment task's title is the PR's (third-party) title: not part of the maintainer's request
    assert "Fix the crash" not in inputs.task.request


def test_a_missing_piece_and_a_server_error_are_left_out_and_noted(world):
    fake = world["fake"]
    fake.fail_next(1, 404, path_prefix=f"{BASE}/contents/README.md")
    fake.fail_next(3, 502, path_prefix=f"{BASE}/contents/pyproject.toml")  # beyond the client's 2 retries
    gathered = gather(insert_task(world), repository(world), attempt=1)

    measures = {m.name: m for m in gathered.measures}
    assert measures["readme:README.md"].outcome == "not_found"
    assert measures["manifest:pyproject.toml"].outcome == "failed"
    assert "GitHubRetryable" in measures["manifest:pyproject.toml"].note
    assert measures["file:src/widgets/core.py"].outcome == "ok"
    assert gathered.inputs.readme is None and gathered.inputs.manifests == []
    assert [f.path for f in gathered.inputs.files] == ["src/widgets/core.py"]


def test_after_a_rate_limit_the_remaining_github_pieces_are_skipped(world):
    fake = world["fake"]
    fake.fail_next(1, 403, rate_limit_reset_in=3600, path_prefix=f"{BASE}/git/trees")
    gathered = gather(insert_task(world), repository(world), attempt=1)

    assert {m.name: m.outcome for m in gathered.measures} == {
        "repository": "ok",
        "file_tree": "failed",
        "readme:README.md": "skipped",
    }
    assert "GitHubRateLimited" in gathered.measures[1].note
    assert [c.path for c in fake.calls if "/contents/" in c.path] == []
    assert gathered.inputs.file_tree == [] and gathered.inputs.readme is None


def test_paths_named_in_text_are_matched_against_the_tree():
    tree = ["src/widgets/core.py", "src/widgets/util.py", "tests/util.py", "README.md"]
    texts = ["See `src/widgets/core.py`, core.py again, util.py (ambiguous), README.md.", "and ./missing.py"]
    assert mentioned_paths(texts, tree) == ["src/widgets/core.py", "README.md"]


def test_complexity_maps_from_ten_steps_to_five():
    assert [spec_complexity(c) for c in range(1, 11)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
