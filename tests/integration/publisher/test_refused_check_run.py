"""A task pull request codeloop refused to validate must not pass a required ``codeloop`` check:
its check run concludes ``action_required`` (GitHub counts ``neutral`` as passing), and links the
changes a person must review."""

from __future__ import annotations

from datetime import UTC, datetime

from codeloop.db import store, validation_store
from codeloop.db.pool import transaction
from codeloop.domain.models import Installation, NewTask, RepositoryRef
from codeloop.domain.repo_config import RepoConfig
from codeloop.domain.validation import not_run_report, protected_paths_hint
from codeloop.services.reporting.publisher import publish_task, repository_url

REPO = "octo/hello"
BRANCH = "codegen/ci-tweak"
WORKFLOW = ".github/workflows/ci.yml"


def test_a_pull_request_changing_protected_paths_gets_an_action_required_check_run(db_url, github_fake):
    repo = github_fake.add_repo(REPO, installation_id=5)
    head = repo.commit_files(BRANCH, {WORKFLOW: "on: push\n"})
    number = repo.add_pull_request(BRANCH)
    report = not_run_report("protected_paths", head, protected_paths_hint({WORKFLOW}, RepoConfig()))
    with transaction() as conn:
        store.upsert_installation(conn, Installation(id=5, account_login="octo"))
        store.upsert_repository(conn, RepositoryRef(id=repo.id, full_name=REPO), installation_id=5)
        task = store.create_task(
            conn,
            NewTask(repository_id=repo.id, title="Tweak CI", type="bug_fix", pr_number=number, head_sha=head),
        )
        for status in ("queued", "prompting", "generating", "validating"):
            store.transition_task(conn, task.id, status)
        store.update_task(conn, task.id, attempt=1)
        validation_store.save_validation_run(
            conn,
            task_id=task.id,
            attempt=1,
            report=report,
            status="not_run",
            head_sha=head,
            started_at=datetime.now(UTC),
            pr_number=number,
        )
        store.transition_task(
            conn, task.id, "failed", step="ValidatePR", error=f"ValidationNotRun: {report.summary}"
        )

    publish_task(str(task.id))

    [check_run] = repo.check_runs.values()
    assert (check_run["head_sha"], check_run["status"], check_run["conclusion"]) == (
        head,
        "completed",
        "action_required",
    )
    assert check_run["details_url"] == f"{repository_url(REPO)}/pull/{number}/files"
    assert WORKFLOW in check_run["output"]["summary"]
