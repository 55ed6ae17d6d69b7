"""A diff provider's diff is untrusted: bad paths are refused before any GitHub call names them,
file modes survive the push, and nothing is written through a symlink (issue 10)."""

import pytest

from codeloop.db import dispatch_store
from codeloop.db.pool import transaction
from codeloop.settings import reset_settings
from tests.conftest import wait_for_execution
from tests.integration.dispatch.conftest import dispatch, start_task


@pytest.fixture
def diff_world(world, monkeypatch):
    monkeypatch.setenv("PROVIDERS", "openai")
    reset_settings()
    return world


def answer_with(world, diff: str) -> None:
    world["openai"].script(f"The change.\n```diff\n{diff}```\n")


def run_error(task) -> str:
    with transaction() as conn:
        return dispatch_store.get_run(conn, task.id, 1).error


def repository_calls(world) -> list:
    return [c for c in world["github"].calls if c.path.startswith("/repos/")]


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("../../../../user", "'..' would climb out of the repository"),
        ("src/../../../../app/installations", "'..' would climb out of the repository"),
        ("/etc/passwd", "absolute paths are refused"),
        (".git/hooks/post-checkout", "paths inside .git/ are refused"),
        (".github/workflows/ci.yml", "it is a protected path (.github/workflows/**)"),
        (".github/codeloop.yml", "it is a protected path (.github/codeloop.yml)"),
    ],
)
def test_a_bad_path_fails_the_run_naming_it_and_reaches_no_github_route(diff_world, path, rule):
    answer_with(diff_world, f"--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-a\n+b\n")
    task, message = start_task(diff_world)
    diff_world["github"].clear_calls()

    assert dispatch(diff_world, message) == {"batchItemFailures": []}

    assert wait_for_execution(task.workflow_execution_arn, "FAILED")["error"] == "DiffDoesNotApply"
    assert run_error(task).startswith(f"{path}: refused: {rule}")
    reads = [c.path for c in repository_calls(diff_world) if c.method == "GET"]
    assert all(p == "/repos/octo/widgets/contents/.github/codeloop.yml" for p in reads), reads
    assert diff_world["repo"].pulls == {}


def test_the_repositorys_own_protected_paths_are_refused_too(diff_world):
    diff_world["repo"].commit_files("main", {".github/codeloop.yml": 'protected_paths: ["src/widgets/**"]\n'})
    answer_with(
        diff_world,
        "--- a/src/widgets/core.py\n+++ b/src/widgets/core.py\n@@ -1,2 +1,2 @@\n def parse(text):\n"
        "-    return text.split()[0]\n+    return None\n",
    )
    task, message = start_task(diff_world)

    assert dispatch(diff_world, message) == {"batchItemFailures": []}

    assert wait_for_execution(task.workflow_execution_arn, "FAILED")["error"] == "DiffDoesNotApply"
    assert run_error(task).startswith("src/widgets/core.py: refused: it is a protected path (src/widgets/**)")


def test_an_executable_stays_executable_and_a_new_one_gets_its_mode(diff_world):
    diff_world["repo"].commit_files("main", {"bin/run": "#!/bin/sh\necho one\n"}, modes={"bin/run": "100755"})
    answer_with(
        diff_world,
        "diff --git a/bin/run b/bin/run\n--- a/bin/run\n+++ b/bin/run\n@@ -1,2 +1,2 @@\n #!/bin/sh\n"
        "-echo one\n+echo two\n"
        "diff --git a/bin/new b/bin/new\nnew file mode 100755\n--- /dev/null\n+++ b/bin/new\n"
        "@@ -0,0 +1,2 @@\n+#!/bin/sh\n+echo new\n",
    )
    task, message = start_task(diff_world)

    assert dispatch(diff_world, message) == {"batchItemFailures": []}

    branch = f"codeloop/task-{str(task.id)[:8]}"
    repo = diff_world["repo"]
    assert diff_world["github"].branch_files("octo/widgets", branch)["bin/run"] == "#!/bin/sh\necho two\n"
    assert (repo.mode_at(branch, "bin/run"), repo.mode_at(branch, "bin/new")) == ("100755", "100755")
    assert repo.mode_at(branch, "README.md") == "100644"


def test_nothing_is_written_through_a_symlink_in_the_repository(diff_world):
    diff_world["repo"].commit_files("main", {"docs": ".github/workflows"}, modes={"docs": "120000"})
    answer_with(diff_world, "--- /dev/null\n+++ b/docs/ci.yml\n@@ -0,0 +1 @@\n+on: push\n")
    task, message = start_task(diff_world)
    main_before = diff_world["repo"].refs["main"]

    assert dispatch(diff_world, message) == {"batchItemFailures": []}

    assert wait_for_execution(task.workflow_execution_arn, "FAILED")["error"] == "DiffRefused"
    assert run_error(task) == "docs/ci.yml: refused: docs is a symlink in the repository"
    assert diff_world["github"].calls_to("POST", r"/repos/octo/widgets/git/.*") == []
    assert diff_world["repo"].refs["main"] == main_before
