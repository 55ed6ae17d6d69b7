"""Pricing and budget rules (domain/prices.py, domain/costs.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from codeloop.domain.costs import (
    CapsOverride,
    CostTotals,
    InstallationCaps,
    Spent,
    TaskBudget,
    Usage,
    budget_stop,
    cost_line,
    gen_ai_attributes,
    openai_usage,
    period_starts,
    price_of,
    refusal_text,
)
from codeloop.domain.prices import parse_price_table

TABLE = parse_price_table(
    {
        "GPT-4o-mini": {"input": 0.15, "output": 0.6},
        "codegen": {"minute": "0.05"},
        "free": {"input": 0, "output": 0},
    }
)


def chat(
    model: str | None = "gpt-4o-mini", tokens_in: int | None = 1_000_000, tokens_out: int | None = 500_000
) -> Usage:
    return Usage(
        operation="chat", provider="openai", model=model, input_tokens=tokens_in, output_tokens=tokens_out,
        duration_seconds=2.0,
    )  # fmt: skip


def test_a_known_model_is_priced_per_million_tokens_in_and_out_case_insensitively():
    assert price_of(TABLE, chat()) == Decimal("0.450000")  # 0.15 + 0.5 * 0.6
    assert price_of(TABLE, chat(tokens_in=1234, tokens_out=56)) == Decimal("0.000219")


def test_an_unknown_model_or_unreported_tokens_is_unpriced_not_zero():
    assert price_of(TABLE, chat(model="mystery-1")) is None
    assert price_of(TABLE, chat(tokens_out=None)) is None
    assert price_of(TABLE, chat(model="free")) == Decimal(0)  # a real zero price stays zero


def test_an_agent_is_priced_per_minute_by_its_provider_when_the_table_says_so():
    run = Usage(operation="invoke_agent", provider="codegen", duration_seconds=600)
    assert price_of(TABLE, run) == Decimal("0.500000")
    assert price_of({}, run) is None


def test_a_bad_price_table_is_refused():
    with pytest.raises(ValidationError):
        parse_price_table({"m": {"input": -1}})
    with pytest.raises(ValidationError):
        parse_price_table({"m": {"inptu": 1}})


def test_openai_usage_reads_the_documented_fields_and_nothing_else():
    assert openai_usage({"usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}}) == (
        10,
        20,
    )
    assert openai_usage({"choices": []}) == (None, None)
    assert openai_usage({"usage": {"prompt_tokens": "10", "completion_tokens": -1}}) == (None, None)


def spent(usd: str | None = None, seconds: float = 0, day: str = "0", month: str = "0") -> Spent:
    return Spent(
        task=CostTotals(calls=1, usd=Decimal(usd) if usd else None, agent_seconds=seconds),
        installation_day_usd=Decimal(day),
        installation_month_usd=Decimal(month),
    )


CAPS = InstallationCaps(max_usd_per_day=Decimal(10), max_usd_per_month=Decimal(100))
BUDGET = TaskBudget(max_usd=Decimal(5), max_agent_minutes=60)


def test_under_every_limit_the_next_call_may_go():
    assert budget_stop(BUDGET, CAPS, spent("4.99", 59 * 60, "9.99", "99.99")) is None
    assert budget_stop(TaskBudget(), InstallationCaps(), spent("1000", 10**6, "1000", "1000")) is None


def test_an_operators_cap_is_a_number_unlimited_or_not_set():
    setting = InstallationCaps(max_usd_per_day=Decimal(10), max_usd_per_month=Decimal(100))
    override = CapsOverride.model_validate({"max_usd_per_day": "unlimited", "max_usd_per_month": "250"})
    assert override.over(setting) == InstallationCaps(max_usd_per_day=None, max_usd_per_month=Decimal(250))
    assert CapsOverride(max_usd_per_month=None).over(setting) == setting  # not set: the setting's
    assert CapsOverride(max_usd_per_day="unlimited").over(InstallationCaps()) == InstallationCaps()
    for wrong in ("Infinity", "none", 0, -1):
        with pytest.raises(ValidationError):
            CapsOverride.model_validate({"max_usd_per_day": wrong})


@pytest.mark.parametrize(
    ("kwargs", "limit", "error", "words"),
    [
        ({"usd": "5.00"}, "task_usd", "TaskBudgetExceeded", "budget.max_usd: spent $5.00 of $5.00"),
        ({"seconds": 3600}, "task_agent_minutes", "TaskBudgetExceeded", "spent 60.0 min of 60 min"),
        (
            {"day": "10"},
            "installation_day_usd",
            "InstallationBudgetExceeded",
            "daily cap: spent $10.00 of $10.00",
        ),
        (
            {"month": "120.5"},
            "installation_month_usd",
            "InstallationBudgetExceeded",
            "monthly cap: spent $120.50",
        ),
    ],
)
def test_each_limit_stops_the_next_call_and_says_what_was_spent(kwargs, limit, error, words):
    stop = budget_stop(BUDGET, CAPS, spent(**kwargs))
    assert stop is not None
    assert (stop.limit, stop.error) == (limit, error)
    assert words in stop.cause
    assert ("codeloop.yml" in stop.raise_it) == limit.startswith("task")


def test_the_refusal_names_the_cap_and_how_to_raise_it():
    stop = budget_stop(TaskBudget(), CAPS, spent(day="12"))
    assert stop is not None
    text = refusal_text(stop, "octocat")
    assert text.startswith("Sorry @octocat")
    assert "spent $12.00 of $10.00" in text and "INSTALLATION_MAX_USD_PER_DAY" in text


def test_the_cost_line_separates_what_is_known_from_what_is_not():
    assert cost_line(CostTotals()) == "nothing spent yet"
    line = cost_line(
        CostTotals(calls=3, usd=Decimal("0.0123"), unpriced_calls=1, input_tokens=1200, output_tokens=340,
                   agent_seconds=750)
    )  # fmt: skip
    assert line == "$0.0123 (1,200 tokens in, 340 out; agents 12.5 min; 1 call unpriced)"
    assert (
        cost_line(CostTotals(calls=1, unpriced_calls=1, agent_seconds=60))
        == "unpriced (agents 1.0 min; 1 call unpriced)"
    )


def test_periods_are_the_utc_day_and_month():
    day, month = period_starts(datetime(2026, 12, 7, 3, 4, 5, tzinfo=UTC))
    assert day == datetime(2026, 12, 7, tzinfo=UTC) and month == datetime(2026, 12, 1, tzinfo=UTC)


def test_gen_ai_attributes_use_the_opentelemetry_names():
    attributes = gen_ai_attributes(chat(tokens_in=10, tokens_out=20), "bug_fix@3", Decimal("0.25"))
    assert attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 20,
        "gen_ai.prompt.name": "bug_fix@3",
        "codeloop.cost.usd": 0.25,
        "codeloop.duration.seconds": 2.0,
    }
