"""A failed HTTP check reaches the agent: the fixture web app with a planted bug is deployed and
checked for real, its report is stored, and the fix prompt built from it shows the failed check."""


from tests.integration.prompts.conftest import insert_task
from tests.integration.prompts.test_worker import fix_prompt_after
from tests.integration.validation.test_deploy_stage import free_port, run_deployed, webapp_config


def test_the_fix_prompt_shows_the_failed_check(world, tmp_path):
    port = free_port()
    report = run_deployed(tmp_path, webapp_config(port), bug=True)
    assert report.summary == "Checks failed: mean"
    repo = world["repo"]
    head = repo.commit_files("codeloop/fix", {"app.py": "print('buggy')\n"})
    number = repo.add_pull_request("codeloop/fix", title="Mean endpoint")
    task = insert_task(world)
    _, row = fix_prompt_after(task, report, head, number)
    assert row.kind == "fix"
    assert f"HTTP check mean: GET http://127.0.0.1:{port}/api/mean?xs=1,2,3" in row.body
    assert "the body does not contain '2.0'" in row.body
    assert '{"mean": 1.5}' in row.body
    assert "HTTP check health" not in row.body  # the passing check is not a failure
