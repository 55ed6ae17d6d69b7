"""A flaky test that another task's validation of the same repository also found flaky is marked so:
it is flaky on the code the pull requests share (the base branch), not something this one brought."""

from __future__ import annotations

from datetime import UTC, datetime

from codeloop.db import store
from codeloop.db.pool import transaction
from codeloop.domain.models import NewTask, RepositoryRef
from codeloop.domain.report import AttemptView, render_check_run
from codeloop.domain.validation import ValidationReport
from codeloop.domain.validation_request import ValidationJob
from codeloop.services.validation import step as validation_step
from tests.integration.validation.test_validation_step import INSTALLATION, REPO, run_row
from tests.integration.validation.test_validation_step import world as world
from tests.unit.report.views import view


def concluded(
    repository_id: int, full_name: str, flaky: list[str], task_id: str | None = None, attempt: int = 1
):
    """A passing validation of a task of the repository whose ``flaky`` tests passed on a rerun."""
    if task_id is None:
        with transaction() as conn:
            task_id = str(store.create_task(conn, NewTask(repository_id=repository_id, title="t")).id)
    job = ValidationJob(
        task_token="token-not-used",
        execution_name=f"{task_id}-{attempt}",
        task_id=task_id,
        attempt=attempt,
        pr_number=1,
        head_sha="b" * 40,
        started_at=datetime.now(UTC),
        installation_id=INSTALLATION,
        full_name=full_name,
        base_ref="main",
        include_repo_checks=False,
    )
    report = ValidationReport(verdict="passed", summary="Passed", head_sha="b" * 40, flaky_tests=flaky)
    validation_step.conclude(job, report)
    return task_id, run_row(task_id, attempt).report


def test_a_test_flaky_in_another_tasks_validation_is_marked(world):
    repo_id = world["repo"].id
    _, first = concluded(repo_id, REPO, ["tests/test_io.py::test_upload"])
    assert first.flaky_elsewhere == []  # the first sighting is only flaky here

    _, second = concluded(repo_id, REPO, ["tests/test_io.py::test_upload", "tests/test_calc.py::test_add"])

    assert second.flaky_elsewhere == ["tests/test_io.py::test_upload"]
    text = render_check_run(view("completed", attempts=[AttemptView(number=1, validation=second)]), 1).text
    assert "- `tests/test_io.py::test_upload` (flaky in another validation of this repository too)" in text
    assert text.splitlines()[-1] == "- `tests/test_calc.py::test_add`"


def test_the_same_tasks_earlier_attempt_or_another_repository_does_not_count(world):
    repo_id = world["repo"].id
    task_id, _ = concluded(repo_id, REPO, ["t::a"])
    with transaction() as conn:
        other = store.upsert_repository(
            conn,
            RepositoryRef(id=repo_id + 1000, full_name="octo/other", default_branch="main"),
            INSTALLATION,
        )
    concluded(other.id, "octo/other", ["t::a"])

    _, again = concluded(repo_id, REPO, ["t::a"], task_id=task_id, attempt=2)

    assert again.flaky_elsewhere == []
