"""Publishing a task is serialized per task: two publishes at once leave one comment and one check run."""

from __future__ import annotations

import contextlib
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from codeloop.db import store
from codeloop.db.pool import transaction
from codeloop.domain.models import Installation, NewTask, RepositoryRef
from codeloop.services.reporting.publisher import publish_task
from codeloop.settings import reset_settings
from tests.fakes.github import GitHubFake, github_fake_environment

REPO = "octo/hello"
# The calls where two unserialized publishers race: both create the check run, both list the
# comments before either has made its own.
RACED = (("POST", re.compile(r".*/check-runs")), ("GET", re.compile(r".*/issues/\d+/comments")))
MEET_SECONDS = 1.0


class RendezvousFake(GitHubFake):
    """Holds each raced call until a second publisher makes it too, or ``MEET_SECONDS`` pass.

    Without serialization both publishers meet there and race for real, every time; with it the
    first one waits alone, gives up, and is done before the second may start.
    """

    def __init__(self, **options):
        super().__init__(**options)
        self.meetings = [threading.Barrier(2, timeout=MEET_SECONDS) for _ in RACED]

    def _handle(self, request):
        for (method, path), meeting in zip(RACED, self.meetings, strict=True):
            if request.method == method and path.fullmatch(request.path):
                with contextlib.suppress(threading.BrokenBarrierError):
                    meeting.wait()
        return super()._handle(request)


@pytest.fixture
def fake(monkeypatch):
    with github_fake_environment(monkeypatch, fake_class=RendezvousFake) as github:
        yield github


def _task_on_an_issue(fake):
    repo = fake.add_repo(REPO, installation_id=5)
    issue = repo.add_issue()
    with transaction() as conn:
        store.upsert_installation(conn, Installation(id=5, account_login="octo"))
        store.upsert_repository(conn, RepositoryRef(id=repo.id, full_name=REPO), installation_id=5)
        task = store.create_task(
            conn, NewTask(repository_id=repo.id, title="Fix it", type="bug_fix", issue_number=issue)
        )
        store.update_task(conn, task.id, attempt=1, head_sha=repo.resolve("main"))
    fake.clear_calls()
    return repo, issue, task


def test_two_publishes_of_one_task_at_once_leave_one_comment_and_one_check_run(db_url, fake):
    repo, issue, task = _task_on_an_issue(fake)

    with ThreadPoolExecutor(max_workers=2) as pool:
        for outcome in [pool.submit(publish_task, str(task.id)) for _ in range(2)]:
            outcome.result()

    base = f"/repos/{REPO}"
    creations = [
        (call.method, call.path) for call in fake.calls_to("POST") if not call.path.endswith("/access_tokens")
    ]
    assert creations == [("POST", f"{base}/check-runs"), ("POST", f"{base}/issues/{issue}/comments")]
    [status_comment] = [c for c in repo.comments.values() if c["_issue"] == issue]
    [check_run] = repo.check_runs.values()
    with transaction() as conn:
        published = store.require_task(conn, task.id)
    assert published.status_comment_id == status_comment["id"]
    assert published.metadata["check_runs"]["1"]["id"] == check_run["id"]
    # The second publisher saw the first one's work and updated it in place.
    assert [call.method for call in fake.calls_to(path=rf"{base}/(check-runs/\d+|issues/comments/\d+)")] == [
        "PATCH",
        "PATCH",
    ]


def test_a_publish_holds_one_pool_connection_only(db_url, fake, monkeypatch):
    """The lock's connection also does the publish's reads and writes: a pool of one suffices."""
    monkeypatch.setenv("DB_POOL_MAX_SIZE", "1")
    reset_settings()
    _, _, task = _task_on_an_issue(fake)
    publish_task(str(task.id))
    with transaction() as conn:
        assert store.require_task(conn, task.id).status_comment_id is not None
