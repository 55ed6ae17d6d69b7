"""Template versions chosen by outcomes, through the prompt builder against real PostgreSQL: the
stored reason names the posteriors it compared, a task keeps its version of a template, and an
operator's rollback wins over the posteriors."""

from __future__ import annotations

import uuid

from codeloop.db import prompts_store
from codeloop.db.pool import transaction
from codeloop.domain.learning import Outcomes
from codeloop.domain.validation import ValidationReport
from codeloop.services.learning.outcomes import learning_inputs
from codeloop.services.prompting.builder import build_prompt_step
from codeloop.services.prompting.versions import rollback, sync_templates
from tests.integration.prompts.conftest import insert_task
from tests.integration.prompts.test_versions import edit, prompts  # noqa: F401 - a fixture
from tests.integration.prompts.test_worker import fix_prompt_after, step_message
from tests.integration.stats.test_stats import tasks_end

# bug_fix v1 ended green 30 times in 40 tasks elsewhere; v2 is new.
OUTCOMES = [(1, "completed")] * 30 + [(1, "failed")] * 10


def two_versions(directory) -> None:
    edit(directory / "bug_fix.md.j2", "{% extends", "{# v2 #}\n{% extends")
    with transaction(actor="test") as conn:
        sync_templates(conn, directory)


def seed_outcomes(conn, repository_id: int, task_type: str = "bug_fix", template_id: str = "bug_fix") -> None:
    """Ended tasks of the type and complexity 4 (of 10, like the test task) whose first prompt came
    from the given version of the template."""
    for version, status in OUTCOMES:
        task_id = uuid.uuid4()
        conn.execute(
            "insert into tasks (id, repository_id, title, type, complexity, status)"
            " values (%s, %s, 't', %s, 4, %s)",
            (task_id, repository_id, task_type, status),
        )
        conn.execute(
            "insert into rendered_prompts (task_id, attempt, template_id, template_version, selection_reason,"
            " body, size_chars, context_chars, sha256) values (%s, 1, %s, %s, 'r', 'b', 1, 0, 'x')",
            (task_id, template_id, version),
        )
        if status == "failed":
            conn.execute(
                "insert into validation_runs (task_id, attempt, head_sha, status) values (%s, 1, 'abc', 'failed')",
                (task_id,),
            )
    tasks_end(conn)
    conn.commit()


def first_prompt(task, attempt: int = 1):
    prompt_id = build_prompt_step(step_message(task, attempt))["prompt_id"]
    with transaction() as conn:
        return prompts_store.get_rendered(conn, prompt_id)


def test_the_stored_reason_names_the_posteriors_and_the_task_keeps_its_version(world, prompts, conn):  # noqa: F811
    two_versions(prompts)
    seed_outcomes(conn, world["repo"].id)
    task = insert_task(world)
    row = first_prompt(task)
    assert "version by outcomes (complexity band 1-2)" in row.selection_reason  # 4 of 10 is 2 of 5
    assert "v1 Beta(31, 11) mean 0.74 (40 outcomes)" in row.selection_reason
    assert "v2 Beta(1, 1) mean 0.50 (0 outcomes)" in row.selection_reason
    assert "all repositories' (this one has 40 of 30)" not in row.selection_reason
    assert "this repository's (40 outcomes)" in row.selection_reason  # 40 ≥ the default 30

    repo = world["repo"]
    head = repo.commit_files("codeloop/fix", {"src/widgets/core.py": "x = 1\n"})
    number = repo.add_pull_request("codeloop/fix", title="Fix")
    report = ValidationReport(verdict="failed", summary="1 test failed", head_sha=head, failure_signature="s")
    _, fix = fix_prompt_after(task, report, head, number)
    assert fix.template_id == "fix_failing_checks"  # a fix prompt's own template, chosen the same way
    assert "the only version that may serve" in fix.selection_reason

    again = first_prompt(task.model_copy(update={"attempt": 2}), attempt=2)  # e.g. /codeloop retry
    assert again.template_version == row.template_version
    assert f"v{row.template_version} kept: the task used it before" in again.selection_reason


def test_a_rollback_wins_over_the_posteriors(world, prompts, conn):  # noqa: F811
    two_versions(prompts)
    seed_outcomes(conn, world["repo"].id)
    with transaction(actor="test") as tx:
        rollback(tx, "bug_fix", 1, actor="test")
    rows = [first_prompt(insert_task(world)) for _ in range(5)]
    assert {row.template_version for row in rows} == {1}
    assert all(
        "v1 is the active version (rolled back), it serves alone" in row.selection_reason for row in rows
    )


def test_outcomes_of_another_task_type_do_not_move_the_posterior(world, conn):
    """fix_failing_checks writes every task's fix prompts: features' outcomes say nothing of bug fixes'."""
    seed_outcomes(conn, world["repo"].id, task_type="feature", template_id="fix_failing_checks")
    key = ("fix_failing_checks", 1)

    def posteriors(task_type: str):
        task = insert_task(world, type=task_type)
        with transaction() as tx:
            return learning_inputs(tx, task, 2, "fix", ["fix_failing_checks"])

    bug_fix, feature = posteriors("bug_fix"), posteriors("feature")
    assert key not in bug_fix.everyone and key not in bug_fix.repository
    assert feature.everyone[key] == feature.repository[key] == Outcomes(green=30, not_green=10)
