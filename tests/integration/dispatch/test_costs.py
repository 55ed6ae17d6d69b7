"""The cost ledger from the provider fakes' reported usage, its GenAI telemetry, and budget stops
before an agent call (real PostgreSQL, the state machine on the AWS emulation)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from codeloop.adapters.aws import client
from codeloop.db import costs_store, store
from codeloop.db.pool import transaction
from codeloop.domain.costs import Charge, Usage
from codeloop.observability import logger
from codeloop.services.agents.runs import sweep_codegen_runs
from codeloop.services.costs import ledger
from codeloop.services.tasks.actions import describe
from codeloop.settings import reset_settings
from tests.conftest import wait_for_execution
from tests.integration.api.test_batch_api import run_status_syncer
from tests.integration.dispatch.conftest import (
    INSTALLATION,
    codegen_creates,
    dispatch,
    start_task,
    warm_codegen,
)
from tests.integration.dispatch.test_shared_state_and_sweep import agent_pull_request, started_run
from tests.integration.observability.test_handlers import Lines

DIFF = (
    "Return None for empty input.\n```diff\n--- a/src/widgets/core.py\n+++ b/src/widgets/core.py\n"
    "@@ -1,2 +1,4 @@\n def parse(text):\n+    if not text:\n+        return None\n     return text.split()[0]\n```\n"
)
PRICES = {"gpt-4o-mini": {"input": 0.15, "output": 0.6}}


@pytest.fixture
def lines():
    capture = Lines()
    logger.addHandler(capture)
    yield capture
    logger.removeHandler(capture)


def use(monkeypatch, **settings: str) -> None:
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    reset_settings()


def records(task_id) -> list[dict]:
    with transaction() as conn:
        return conn.execute(
            "select * from usage_records where task_id = %s order by id", (str(task_id),)
        ).fetchall()


def emf_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{") and '"_aws"' in line]


def test_a_chat_completion_is_priced_from_its_reported_tokens_stored_logged_and_emitted(
    world, monkeypatch, lines, capsys
):
    use(monkeypatch, PROVIDERS="openai", MODEL_PRICES=json.dumps(PRICES))
    world["openai"].script(DIFF, tokens=(120_000, 30_000))
    task, message = start_task(world)

    assert dispatch(world, message) == {"batchItemFailures": []}

    [row] = records(task.id)
    assert (row["operation"], row["provider"], row["model"], row["prompt_name"]) == (
        "chat", "openai", "gpt-4o-mini", "test@1",
    )  # fmt: skip
    assert (row["input_tokens"], row["output_tokens"], row["attempt"]) == (120_000, 30_000, 1)
    assert row["cost_usd"] == Decimal("0.036000")  # 0.12 * 0.15 + 0.03 * 0.6
    assert row["installation_id"] == INSTALLATION and row["external_id"].startswith("chatcmpl-")
    assert row["duration_seconds"] > 0

    [said] = lines.saying("gen_ai call")
    assert {key: said[key] for key in said if key.startswith(("gen_ai.", "codeloop.cost"))} == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 120_000,
        "gen_ai.usage.output_tokens": 30_000,
        "gen_ai.prompt.name": "test@1",
        "codeloop.cost.usd": 0.036,
    }
    emitted = {
        name: doc for doc in emf_lines(capsys.readouterr().out) for name in doc if name.startswith("GenAI")
    }
    assert emitted["GenAIInputTokens"]["GenAIInputTokens"] == [120_000.0]
    assert emitted["GenAIOutputTokens"]["GenAIOutputTokens"] == [30_000.0]
    assert emitted["GenAICostUSD"]["GenAICostUSD"] == [0.036]
    cost_metric = emitted["GenAICostUSD"]
    assert (
        cost_metric["gen_ai.provider.name"] == "openai"
        and cost_metric["gen_ai.request.model"] == "gpt-4o-mini"
    )
    # the call's other GenAI attributes ride along as properties, under their OpenTelemetry names
    assert (cost_metric["gen_ai.prompt.name"], cost_metric["codeloop.cost.usd"]) == ("test@1", 0.036)
    assert cost_metric["gen_ai.usage.input_tokens"] == 120_000
    [directive] = cost_metric["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "codeloop"
    assert sorted(directive["Dimensions"][0]) == sorted(
        ["gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model"]
    )

    cost = describe(task.id)["cost"]
    assert cost["total"]["usd"] == "0.036000" and cost["total"]["input_tokens"] == 120_000
    assert [attempt["attempt"] for attempt in cost["attempts"]] == [1]


def test_an_unknown_model_and_a_server_that_reports_no_tokens_are_unpriced_not_free(world, monkeypatch):
    use(monkeypatch, PROVIDERS="openai", OPENAI_MODEL="local-llama", MODEL_PRICES=json.dumps(PRICES))
    world["openai"].script(DIFF, tokens=None)
    task, message = start_task(world)

    assert dispatch(world, message) == {"batchItemFailures": []}

    [row] = records(task.id)
    assert (row["model"], row["input_tokens"], row["output_tokens"], row["cost_usd"]) == (
        "local-llama", None, None, None,
    )  # fmt: skip
    total = describe(task.id)["cost"]["total"]
    assert (total["usd"], total["unpriced_calls"], total["calls"]) == (None, 1, 1)


def test_a_codegen_run_is_recorded_once_with_its_duration_when_it_ends(world, monkeypatch, lines):
    use(monkeypatch, MODEL_PRICES=json.dumps({"codegen": {"minute": 0.05}}))
    task, run_id = started_run(world)
    agent_pull_request(world, "codegen-bot/fix-parse", reported_by=run_id)
    world["codegen"].complete_run(run_id)

    assert sweep_codegen_runs().succeeded == 1
    assert sweep_codegen_runs().succeeded == 0

    [row] = records(task.id)
    assert (row["operation"], row["provider"], row["external_id"], row["prompt_name"]) == (
        "invoke_agent", "codegen", str(run_id), "test@1",
    )  # fmt: skip
    # The Codegen API reports no tokens: they stay unknown; the run is priced by its minutes.
    assert (row["input_tokens"], row["output_tokens"]) == (None, None)
    assert row["duration_seconds"] > 0 and row["cost_usd"] is not None
    [said] = lines.saying("gen_ai call")
    assert said["gen_ai.operation.name"] == "invoke_agent" and said["gen_ai.provider.name"] == "codegen"
    assert "gen_ai.usage.input_tokens" not in said  # not reported: left out, never 0


def spend(task, *, usd: str | None = None, seconds: float = 1.0, at: datetime | None = None) -> None:
    """A call already made for the task (priced through MODEL_PRICES' 'seeded' per-minute price)."""
    ledger.record(
        Charge(task_id=str(task.id), attempt=1),
        Usage(operation="chat", provider="seeded", model="seeded", duration_seconds=seconds),
    )
    if usd is not None or at is not None:
        with transaction() as conn:
            conn.execute(
                "update usage_records set cost_usd = coalesce(%s::numeric, cost_usd),"
                " recorded_at = coalesce(%s, recorded_at)"
                " where id = (select max(id) from usage_records where task_id = %s)",
                (usd, at, str(task.id)),
            )


def failure(task) -> tuple[str, str]:
    """The failed DispatchCodegen step's (error, cause), as the workflow ledger holds them."""
    wait_for_execution(task.workflow_execution_arn, "FAILED")
    with transaction() as conn:
        steps = [step for execution in store.task_history(conn, task.id) for step in execution.steps]
    [failed] = [step for step in steps if step.step == "DispatchCodegen" and step.status == "failed"]
    error, cause = failed.error.split(": ", 1)
    return error, cause


def config(world, text: str) -> None:
    world["repo"].commit_files("main", {".github/codeloop.yml": text})


@pytest.mark.parametrize(
    ("limit", "setup", "error", "words"),
    [
        ("task usd", {"config": "budget: {max_usd: 1}\n", "usd": "1.20"}, "TaskBudgetExceeded",
         "budget.max_usd: spent $1.20 of $1.00"),
        ("task minutes", {"config": "budget: {max_agent_minutes: 30}\n", "seconds": 1860}, "TaskBudgetExceeded",
         "budget.max_agent_minutes: spent 31.0 min of 30 min"),
        ("installation day", {"env": {"INSTALLATION_MAX_USD_PER_DAY": "2"}, "usd": "2.50"},
         "InstallationBudgetExceeded", "daily cap: spent $2.50 of $2.00"),
        ("installation month", {"env": {"INSTALLATION_MAX_USD_PER_MONTH": "3"}, "usd": "3.00", "earlier": True},
         "InstallationBudgetExceeded", "monthly cap: spent $3.00 of $3.00"),
    ],
)  # fmt: skip
def test_a_task_at_a_limit_stops_before_the_next_agent_call_and_says_why(
    world, monkeypatch, limit, setup, error, words
):
    use(monkeypatch, **setup.get("env", {}))
    if "config" in setup:
        config(world, setup["config"])
    task, message = start_task(world)
    warm_codegen()
    now = datetime.now(UTC)
    # Spent earlier this month but not today (unless today is the 1st): counts for the month only.
    earlier = now.replace(day=1, hour=0, minute=1) if setup.get("earlier") else None
    spend(task, usd=setup.get("usd"), seconds=setup.get("seconds", 1.0), at=earlier)

    assert dispatch(world, message) == {"batchItemFailures": []}

    assert codegen_creates(world) == []
    failed, cause = failure(task)
    assert failed == error
    assert words in cause


def test_a_visible_end_on_the_pull_request_the_check_run_and_the_task_row(world, monkeypatch):
    config(world, "budget: {max_usd: 0.5}\n")
    task, message = start_task(world)
    number, head = agent_pull_request(world, "feature/x", user="octocat")
    with transaction() as conn:
        store.update_task(conn, task.id, pr_number=number, head_sha=head)
    spend(task, usd="0.75")

    dispatch(world, message)
    failure(task)
    queue = world["aws"]["STATUS_QUEUE_URL"]
    while (
        batch := client("sqs")
        .receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        .get("Messages")
    ):
        run_status_syncer(world["aws"], batch)  # the status syncer records the failure and publishes

    with transaction() as conn:
        stored = store.require_task(conn, task.id)
    assert stored.status == "failed"
    assert (
        "TaskBudgetExceeded: the task's budget.max_usd: spent $0.75 of $0.50" in stored.error_log[-1]["error"]
    )
    [comment] = world["repo"].comments.values()
    assert "made no further agent call" in comment["body"]
    assert "spent $0.75 of $0.50" in comment["body"]
    assert "raise `budget.max_usd`" in comment["body"]
    assert "**Cost so far:** $0.75" in comment["body"]
    [check] = world["repo"].check_runs.values()
    assert check["conclusion"] == "failure" and "spent $0.75 of $0.50" in check["output"]["summary"]


def test_the_installation_spend_counts_today_and_this_month_only(world):
    task, _message = start_task(world)
    now = datetime.now(UTC)
    spend(task, usd="1.00")
    spend(task, usd="2.00", at=now - timedelta(days=40))
    with transaction() as conn:
        day, month = costs_store.installation_spent(conn, INSTALLATION, now)
    assert (day, month) == (Decimal("1.000000"), Decimal("1.000000"))
