"""Failure memory against real PostgreSQL: a repository fixed once for a failing test gets that
fix's summary in the next fix prompt for the same test or error type, fenced and recorded in the
manifest; at most three memories, and never another repository's."""

from datetime import UTC, datetime

from codeloop.db import learning_store
from codeloop.domain.fix_memory import MAX_RECALLED, TITLE, FailureKeys, FixSummary
from codeloop.domain.test_results import TestFailure
from codeloop.domain.untrusted import FENCE_TAG
from codeloop.domain.validation import ValidationReport
from codeloop.domain.validation_request import ValidationJob
from codeloop.services.validation.step import conclude
from tests.integration.prompts.conftest import add_repository, insert_task
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


def next_fix_prompt(world, branch: str, repo=None, **failure):
    """The fix prompt of a later task in ``repo`` (the world's by default) whose attempt 1 failed
    as ``failed(head, **failure)`` says."""
    repo = repo or world["repo"]
    head = repo.commit_files(branch, {"src/widgets/core.py": "def parse(text):\n    return ''\n"})
    number = repo.add_pull_request(branch, title="Empty input again")
    later = insert_task(world, repository_id=repo.id)
    _, prompt = fix_prompt_after(later, failed(head, **failure), head, number)
    return prompt


def recalled(prompt) -> list[str]:
    """The memories the prompt's context manifest names."""
    return [p["name"] for p in prompt.context_manifest["pieces"] if p["name"].startswith("fix_memory:")]


def test_the_next_fix_prompt_for_the_same_failing_test_gets_the_fix(world, conn):
    memory_id = fixed_once(world, conn)
    prompt = next_fix_prompt(world, "codeloop/two", message="assert '' is None")

    assert f"### {TITLE} (1 of 1)" in prompt.body
    assert "MEMORY-MARKER" in prompt.body
    assert "Fixed by attempt 2, changing: src/widgets/core.py, tests/test_core.py" in prompt.body
    block = prompt.body.split(f"### {TITLE} (1 of 1)\n", 1)[1]
    assert block.startswith(f'<{FENCE_TAG} id="')  # fenced as data, like every context piece
    assert block.index("MEMORY-MARKER") < block.index(f"</{FENCE_TAG}")
    used = {p["name"]: p["status"] for p in prompt.context_manifest["pieces"]}
    assert used[f"fix_memory:{memory_id}"] == "full"


def test_a_different_failure_recalls_nothing(world, conn):
    fixed_once(world, conn)
    prompt = next_fix_prompt(
        world, "codeloop/three", test="tests/test_core.py::test_split", message="KeyError: 'a'"
    )
    assert TITLE not in prompt.body
    assert recalled(prompt) == []


def test_four_memories_give_three_in_the_prompt_the_newest_first(world, conn):
    oldest = fixed_once(world, conn)
    keys = FailureKeys(
        signature="another run of the same test", test_ids=[TEST], error_types=["AssertionError"]
    )
    for n in (2, 3, 4):
        learning_store.remember_fix(
            conn,
            repository_id=world["repo"].id,
            task_id=insert_task(world).id,
            attempt=2,
            keys=keys,
            fix=FixSummary(files=["src/widgets/core.py"], summary=f"fix number {n}"),
        )
    conn.commit()  # a transaction after fixed_once's: all three are newer than its memory
    prompt = next_fix_prompt(world, "codeloop/two", message="assert '' is None")

    assert len(recalled(prompt)) == MAX_RECALLED == 3
    assert f"fix_memory:{oldest}" not in recalled(prompt)
    assert all(f"fix number {n}" in prompt.body for n in (2, 3, 4))
    assert f"### {TITLE} (3 of 3)" in prompt.body
    assert "MEMORY-MARKER" not in prompt.body and "of 4)" not in prompt.body


def test_a_task_in_another_repository_recalls_nothing_of_this_ones(world, conn):
    fixed_once(world, conn)
    gadgets = add_repository(world["fake"], "octo/gadgets")
    prompt = next_fix_prompt(world, "codeloop/two", repo=gadgets)  # the very same failure
    assert TITLE not in prompt.body
    assert recalled(prompt) == []


def test_another_failing_test_with_the_same_error_type_recalls_the_fix(world, conn):
    memory_id = fixed_once(world, conn)
    prompt = next_fix_prompt(
        world, "codeloop/two", test="tests/test_core.py::test_split", message="AssertionError: assert 1 == 2"
    )
    assert recalled(prompt) == [f"fix_memory:{memory_id}"]
    assert f"### {TITLE} (1 of 1)" in prompt.body and "MEMORY-MARKER" in prompt.body
