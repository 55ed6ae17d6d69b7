"""A failed HTTP check reaches the agent: the fixture web app with a planted bug is deployed and
checked for real, its report is stored, and the fix prompt built from it shows the failed check."""

from datetime import UTC, datetime

from codeloop.db import prompts_store, validation_store
from codeloop.db.pool import transaction
from codeloop.services.prompting.builder import build_prompt_step
from tests.integration.prompts.conftest import insert_task
from tests.integration.prompts.test_worker import step_message
from tests.integration.validation.test_deploy_stage import free_port, run_deployed, webapp_config


def test_the_fix_prompt_shows_the_failed_check(world, tmp_path):
    port = free_port()
    report = run_deployed(tmp_path, webapp_config(port), bug=True)
    assert report.summary == "Checks failed: mean"
    repo = world["repo"]
    head = repo.commit_files("codeloop/fix", {"app.py": "print('buggy')\n"})
    number = repo.add_pull_request("codeloop/fix", title="Mean endpoint")
    task = insert_task(world)
    with transaction() as conn:
        run = validation_store.save_validation_run(
            conn,
            task_id=task.id,
            attempt=1,
            report=report,
            status="failed",
            head_sha=head,
            started_at=datetime.now(UTC),
        )
    message = step_message(
        task,
        2,
        kind="fix",
        previous_codegen={"run_id": "r-1", "pr_number": number, "head_sha": head},
        previous_validation={
            "validation_run_id": str(run.id),
            "verdict": "failed",
            "same_failure": False,
            "passed": False,
        },
    )
    prompt_id = build_prompt_step(message)["prompt_id"]
    with transaction() as conn:
        row = prompts_store.get_rendered(conn, prompt_id)
    assert row.kind == "fix"
    assert f"HTTP check mean: GET http://127.0.0.1:{port}/api/mean?xs=1,2,3" in row.body
    assert "the body does not contain '2.0'" in row.body
    assert '{"mean": 1.5}' in row.body
    assert "HTTP check health" not in row.body  # the passing check is not a failure
