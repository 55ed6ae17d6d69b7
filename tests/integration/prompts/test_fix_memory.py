"""Failure memory against real PostgreSQL: a repository fixed once for a failing test gets that
fix's summary in the next fix prompt for the same test, fenced and recorded in the manifest."""

from datetime import UTC, datetime

from codeloop.domain.test_results import TestFailure
from codeloop.domain.untrusted import FENCE_TAG
from codeloop.domain.validation import ValidationReport
from codeloop.domain.validation_request import ValidationJob
from codeloop.services.validation.step import conclude
from tests.integration.prompts.conftest import insert_task
from tests.integration.prompts.test_worker import fix_prompt_after

TEST = "tests/test_core.py::test_empty_input"
AGENT_SUMMARY = "parse() now returns None for an empty string; MEMORY-MARKER"


def failed(
    head: str, test: str = TEST, message: str = "AssertionError: assert None == ''"
) -> ValidationReport:
    failure = TestFailure(
        name=test.split("::")[1], suite=test.split("::")[0], message=message, framework="pytest"
    )
    return ValidationReport(
        verdict="failed",
        summary="1 test failed",
        head_sha=head,
        failures=[failure],
        failures_total=1,
        failure_signature=f"signature of {test}: {message}",
    )


def validate(task, attempt: int, report: ValidationReport, number: int) -> dict:
    """ValidatePR's conclusion for the attempt, as the status syncer reaches it."""
    job = ValidationJob(
        task_token=f"token-{attempt}",
        execution_name=f"{task.id}-{attempt}",
        task_id=str(task.id),
        attempt=attempt,
        pr_number=number,
        head_sha=report.head_sha or "",
        started_at=datetime.now(UTC),
        installation_id=7,
        full_name="octo/widgets",
        base_ref="main",
        include_repo_checks=False,
    )
    return conclude(job, report)


def fixed_once(world, conn) -> str:
    """Task 1 fails TEST at attempt 1 and passes at attempt 2: the fix is remembered."""
    repo = world["repo"]
    head = repo.commit_files(
        "codeloop/one", {"src/widgets/core.py": "def parse(text):\n    return text[0]\n"}
    )
    number = repo.add_pull_request("codeloop/one", title="Empty input")
    task = insert_task(world)
    assert validate(task, 1, failed(head), number)["passed"] is False
    conn.execute(
        "insert into codegen_runs (task_id, attempt, provider, status, summary)"
        " values (%s, 2, 'codegen', 'completed', %s)",
        (task.id, AGENT_SUMMARY),
    )
    conn.commit()
    green = ValidationReport(
        verdict="passed",
        summary="Passed",
        head_sha=head,
        changed_paths=["src/widgets/core.py", "tests/test_core.py"],
    )
    assert validate(task, 2, green, number)["passed"] is True
    validate(task, 2, green, number)  # a report concluded again is remembered once
    (memory,) = conn.execute("select * from fix_memories").fetchall()
    assert memory["test_ids"] == [TEST]
    assert memory["error_types"] == ["AssertionError"]
    assert memory["files"] == ["src/widgets/core.py", "tests/test_core.py"]
    return str(memory["id"])


def test_the_next_fix_prompt_for_the_same_failing_test_gets_the_fix(world, conn):
    memory_id = fixed_once(world, conn)
    repo = world["repo"]
    head = repo.commit_files("codeloop/two", {"src/widgets/core.py": "def parse(text):\n    return ''\n"})
    number = repo.add_pull_request("codeloop/two", title="Empty input again")
    later = insert_task(world)
    _, prompt = fix_prompt_after(later, failed(head, message="assert '' is None"), head, number)

    assert "### What fixed similar failures here before (1 of 1)" in prompt.body
    assert "MEMORY-MARKER" in prompt.body
    assert "Fixed by attempt 2, changing: src/widgets/core.py, tests/test_core.py" in prompt.body
    block = prompt.body.split("### What fixed similar failures here before (1 of 1)\n", 1)[1]
    assert block.startswith(f'<{FENCE_TAG} id="')  # fenced as data, like every context piece
    assert block.index("MEMORY-MARKER") < block.index(f"</{FENCE_TAG}")
    used = {p["name"]: p["status"] for p in prompt.context_manifest["pieces"]}
    assert used[f"fix_memory:{memory_id}"] == "full"


def test_a_different_failure_recalls_nothing(world, conn):
    fixed_once(world, conn)
    repo = world["repo"]
    head = repo.commit_files("codeloop/three", {"src/widgets/core.py": "x = 1\n"})
    number = repo.add_pull_request("codeloop/three", title="Other")
    other = insert_task(world)
    report = failed(head, test="tests/test_core.py::test_split", message="KeyError: 'a'")
    _, prompt = fix_prompt_after(other, report, head, number)
    assert "What fixed similar failures here before" not in prompt.body
    assert not any(p["name"].startswith("fix_memory:") for p in prompt.context_manifest["pieces"])
