"""State shared by Lambda instances (two connection pools stand in for two), and the end of an
agent run's wait: the sweeper's poll and the agent's pull request."""

import json
import threading
from datetime import UTC, datetime, timedelta

from codeloop.db import dispatch_store
from codeloop.db.pool import make_pool, transaction
from codeloop.domain.adoption import PullRequestFacts
from codeloop.domain.breaker import BreakerPolicy
from codeloop.services.agents.runs import on_agent_pull_request, sweep_codegen_runs
from tests.conftest import wait_for_execution
from tests.integration.dispatch.conftest import dispatch, open_every_breaker, start_task, take_one

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
POLICY = BreakerPolicy(
    failure_threshold=2,
    window=timedelta(minutes=1),
    cooldown=timedelta(seconds=30),
    probe_timeout=timedelta(seconds=30),
)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_the_breaker_opens_and_closes_the_same_for_two_instances(db_url):
    first, second = make_pool(db_url), make_pool(db_url)
    try:
        with transaction(pool=first) as conn:
            dispatch_store.breaker_failure(conn, "codegen", at(0), POLICY)
        with transaction(pool=second) as conn:
            assert dispatch_store.breaker_admits(conn, "codegen", at(1), POLICY)  # one failure: still closed
            dispatch_store.breaker_failure(conn, "codegen", at(2), POLICY)
        with transaction(pool=first) as conn:
            assert not dispatch_store.breaker_admits(conn, "codegen", at(3), POLICY)  # open for both

        # After the cool-down both instances ask at once: exactly one gets the probe.
        barrier = threading.Barrier(2)
        answers: list[bool] = []

        def ask(pool):
            barrier.wait()
            with transaction(pool=pool) as conn:
                answers.append(dispatch_store.breaker_admits(conn, "codegen", at(40), POLICY))

        threads = [threading.Thread(target=ask, args=(pool,)) for pool in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(answers) == [False, True]

        with transaction(pool=second) as conn:
            dispatch_store.breaker_success(conn, "codegen")  # the probe succeeded
        with transaction(pool=first) as conn:
            assert dispatch_store.breaker_admits(conn, "codegen", at(41), POLICY)
            assert dispatch_store.get_breaker(conn, "codegen").state == "closed"
    finally:
        first.close()
        second.close()


def test_the_rate_bucket_is_shared_and_refuses_the_eleventh_run_in_a_minute(db_url):
    first, second = make_pool(db_url), make_pool(db_url)
    try:
        for second_of_minute in range(10):
            pool = first if second_of_minute % 2 else second
            with transaction(pool=pool) as conn:
                grant = dispatch_store.take_token(
                    conn, "codegen", at(second_of_minute), 10, timedelta(minutes=1)
                )
            assert grant.granted
        with transaction(pool=first) as conn:
            refused = dispatch_store.take_token(conn, "codegen", at(20), 10, timedelta(minutes=1))
        assert not refused.granted and refused.wait_seconds == 40.0  # the token taken at 0 s returns at 60 s
        with transaction(pool=second) as conn:
            assert dispatch_store.take_token(conn, "codegen", at(60), 10, timedelta(minutes=1)).granted
    finally:
        first.close()
        second.close()


# -- ending the wait ------------------------------------------------------------------------------


def started_run(world):
    task, message = start_task(world)
    assert dispatch(world, message) == {"batchItemFailures": []}
    [run_id] = world["codegen"].runs
    return task, run_id


AGENT = "codegen-sh[bot]"  # CODEGEN_BOT_LOGINS' default


def agent_pull_request(
    world, branch: str, user: str = AGENT, *, reported_by: str | None = None
) -> tuple[int, str]:
    """A pull request opened on ``branch``; with ``reported_by``, that Codegen run reports it too."""
    head = world["repo"].commit_files(branch, {"src/widgets/core.py": "def parse(text):\n    return None\n"})
    number = world["repo"].add_pull_request(head=branch, title="Fix parse", user=user)
    if reported_by is not None:
        world["codegen"].attach_pull_request(
            reported_by,
            url=f"https://github.com/octo/widgets/pull/{number}",
            title="Fix parse",
            head_branch=branch,
        )
    return number, head


def facts(number: int, branch: str, author: str = AGENT, head_repository: str | None = "octo/widgets"):
    """The pull request as the webhook describes it."""
    return PullRequestFacts(
        repository="octo/widgets",
        number=number,
        head_branch=branch,
        head_repository=head_repository,
        author=author,
    )


def test_the_sweeper_finishes_a_completed_run_and_the_execution_moves_to_validation(world):
    task, run_id = started_run(world)
    number, head = agent_pull_request(world, "codegen-bot/fix-parse", reported_by=run_id)
    world["codegen"].complete_run(run_id)

    summary = sweep_codegen_runs()

    assert (summary.polled, summary.succeeded) == (1, 1)
    validate = json.loads(take_one(world["aws"]["VALIDATION_QUEUE_URL"])["Body"])
    assert (validate["step"], validate["task_id"], validate["pr_number"], validate["head_sha"]) == (
        "ValidatePR",
        str(task.id),
        number,
        head,
    )
    assert run_id in world["codegen"].banned_runs  # Codegen's own check fixer is off for this PR
    assert sweep_codegen_runs().succeeded == 0  # answered once


def test_a_run_completed_without_a_pull_request_fails_the_step(world):
    task, run_id = started_run(world)
    world["codegen"].complete_run(run_id)
    assert sweep_codegen_runs().failed == 1
    assert wait_for_execution(task.workflow_execution_arn, "FAILED")["error"] == "NoPullRequest"


def test_a_silent_run_past_its_deadline_times_out(world):
    task, _run_id = started_run(world)
    assert sweep_codegen_runs(datetime.now(UTC) + timedelta(hours=4)).timed_out == 1
    assert wait_for_execution(task.workflow_execution_arn, "FAILED")["error"] == "AgentTimedOut"


def test_a_pull_request_reported_by_the_run_ends_the_wait(world):
    _task, run_id = started_run(world)
    number, head = agent_pull_request(world, "feature/parse-none", reported_by=run_id)
    assert sweep_codegen_runs().succeeded == 0  # still running: the poll only records the PR

    assert on_agent_pull_request(facts(number, "feature/parse-none"), head)

    validate = json.loads(take_one(world["aws"]["VALIDATION_QUEUE_URL"])["Body"])
    assert (validate["pr_number"], validate["head_sha"]) == (number, head)
    assert not on_agent_pull_request(facts(number, "feature/parse-none"), head)


def test_the_sweeper_resumes_a_waiting_task_once_a_breaker_admits_calls(world):
    from codeloop.services.agents.providers import breaker_policy

    open_every_breaker()
    _task, message = start_task(world)
    assert dispatch(world, message) == {"batchItemFailures": []}
    assert sweep_codegen_runs().resumed == 0  # still cooling down

    later = datetime.now(UTC) + timedelta(seconds=breaker_policy().cooldown.total_seconds() + 1)
    assert sweep_codegen_runs(later).resumed == 1
    resumed = take_one(world["aws"]["CODEGEN_QUEUE_URL"])
    assert json.loads(resumed["Body"])["task_token"] == json.loads(message["Body"])["task_token"]
    with transaction() as conn:
        assert dispatch_store.provider_waits(conn) == []
