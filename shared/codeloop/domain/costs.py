"""What model and agent calls cost, and whether a task may make another one: pure rules.

- Prices: the table of ``domain/prices.py`` (setting ``MODEL_PRICES``). A model the table does
  not name, or a call whose tokens the API did not report, is *unpriced*: its cost is None,
  never 0, so totals say how much they do not know.
- Budgets: a task's ``budget: {max_usd, max_agent_minutes}`` (``.github/codeloop.yml``) and an
  installation's USD caps per day and per month (settings, or the operator's override through
  the task API). :func:`budget_stop` decides, before an agent call, whether the next one may go.
- Telemetry: :func:`gen_ai_attributes` names a call in the OpenTelemetry GenAI conventions.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from codeloop.domain.prices import PriceTable

MILLION = Decimal(1_000_000)
# The period outcome stats cover when none is asked for: the tasks created in the last 30 days.
STATS_PERIOD = timedelta(days=30)
# The times a period of outcome stats may start and end within (``since``, ``until``): any real
# question fits, and a period counted back from ``until`` stays far from datetime's year 1.
STATS_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
STATS_LATEST = datetime(2100, 1, 1, tzinfo=UTC)
USD_PLACES = Decimal("0.000001")  # what the ledger keeps (numeric(14, 6))

# gen_ai.operation.name values: a chat completion, and a run of an agent.
Operation = Literal["chat", "invoke_agent"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Usage(_Frozen):
    """One model or agent call, as its API reported it (tokens: None when not reported)."""

    operation: Operation
    provider: str
    model: str | None = None
    input_tokens: int | None = Field(default=None, ge=0)
    output_tokens: int | None = Field(default=None, ge=0)
    duration_seconds: float = Field(ge=0)
    external_id: str | None = None  # the completion's or the agent run's id


class Charge(_Frozen):
    """What a call is for: the ledger's key and the prompt (``template@version``) it carried."""

    task_id: str
    attempt: int
    prompt_name: str | None = None


def openai_usage(answer: Any) -> tuple[int | None, int | None]:
    """``usage.prompt_tokens`` / ``usage.completion_tokens`` of a chat completion, when reported."""
    usage = answer.get("usage") if isinstance(answer, dict) else None
    if not isinstance(usage, dict):
        return None, None

    def count(key: str) -> int | None:
        value = usage.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None

    return count("prompt_tokens"), count("completion_tokens")


def price_of(table: PriceTable, usage: Usage) -> Decimal | None:
    """The call's USD cost, or None when it cannot be priced (unknown model, tokens not reported).

    Looked up by model, then by provider (an agent priced per minute). Token prices need both
    token counts; a minute price needs only the duration.
    """
    price = None
    for name in (usage.model, usage.provider):
        if name and name.lower() in table:
            price = table[name.lower()]
            break
    if price is None:
        return None
    total = Decimal(0)
    priced = False
    if price.input is not None or price.output is not None:
        if usage.input_tokens is None or usage.output_tokens is None:
            return None
        total += Decimal(usage.input_tokens) * (price.input or 0) / MILLION
        total += Decimal(usage.output_tokens) * (price.output or 0) / MILLION
        priced = True
    if price.minute is not None:
        total += Decimal(str(usage.duration_seconds)) / 60 * price.minute
        priced = True
    return total.quantize(USD_PLACES, rounding=ROUND_HALF_UP) if priced else None


# -- totals ----------------------------------------------------------------------------------------


class CostTotals(_Frozen):
    """Sums over some calls. ``usd`` sums the priced ones; ``unpriced_calls`` says how many are not in it."""

    calls: int = 0
    usd: Decimal | None = None
    unpriced_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    agent_seconds: float = 0.0

    @property
    def agent_minutes(self) -> float:
        return self.agent_seconds / 60


class AttemptCost(CostTotals):
    attempt: int


class TaskCost(_Frozen):
    """A task's cost so far, in total and per attempt (``GET /api/v1/tasks/{id}``, the report)."""

    total: CostTotals = Field(default_factory=CostTotals)
    attempts: list[AttemptCost] = Field(default_factory=list)


def usd_text(usd: Decimal | None) -> str:
    """Dollars and cents, or four places for amounts below a dollar that cents would round away."""
    if usd is None:
        return "unpriced"
    cents = usd.quantize(Decimal("0.01"))
    return f"${cents}" if usd >= 1 or usd == cents else f"${usd.quantize(Decimal('0.0001'))}"


def cost_line(totals: CostTotals) -> str:
    """One plain-text line: ``$0.0123 (1,200 tokens in, 340 out; agents 12.5 min; 1 call unpriced)``."""
    if totals.calls == 0:
        return "nothing spent yet"
    parts = []
    if totals.input_tokens or totals.output_tokens:  # agents that report none (Codegen) say nothing here
        parts.append(f"{totals.input_tokens:,} tokens in, {totals.output_tokens:,} out")
    if totals.agent_seconds:
        parts.append(f"agents {totals.agent_minutes:.1f} min")
    if totals.unpriced_calls:
        parts.append(f"{totals.unpriced_calls} call{'s' if totals.unpriced_calls != 1 else ''} unpriced")
    money = usd_text(totals.usd) if totals.usd is not None or not totals.unpriced_calls else "unpriced"
    return f"{money} ({'; '.join(parts)})"


# -- budgets ---------------------------------------------------------------------------------------

LimitName = Literal["task_usd", "task_agent_minutes", "installation_day_usd", "installation_month_usd"]


class TaskBudget(_Frozen):
    """``budget:`` in ``.github/codeloop.yml``: per task, over all its attempts."""

    max_usd: Decimal | None = Field(
        default=None, gt=0, description="USD a task may spend on model and agent calls."
    )
    max_agent_minutes: float | None = Field(
        default=None, gt=0, description="Minutes of agent and model calls a task may use."
    )


class InstallationCaps(_Frozen):
    """An installation's USD caps (None: no cap), from settings or the operator's override."""

    max_usd_per_day: Decimal | None = Field(default=None, gt=0)
    max_usd_per_month: Decimal | None = Field(default=None, gt=0)


NO_CAP = "unlimited"
# A cap in USD as the ledger counts (to the millionth), below a billion: an amount PostgreSQL's
# numeric cannot hold (1e-1000000) is a clear 422, not a database error.
CapUsd = Annotated[Decimal, Field(gt=0, le=Decimal(10**9), decimal_places=6)]
# One cap an operator sets for an installation: USD; "unlimited", no cap there whatever the
# setting; or None, not set, so the setting's cap applies.
CapOverride = CapUsd | Literal["unlimited"] | None


class CapsOverride(_Frozen):
    """The operator's caps for one installation (``PUT /api/v1/installations/{id}/budget``)."""

    max_usd_per_day: CapOverride = None
    max_usd_per_month: CapOverride = None

    def over(self, defaults: InstallationCaps) -> InstallationCaps:
        """The caps that apply: each one set here, else the default (the setting's)."""
        return InstallationCaps(
            max_usd_per_day=_applied(self.max_usd_per_day, defaults.max_usd_per_day),
            max_usd_per_month=_applied(self.max_usd_per_month, defaults.max_usd_per_month),
        )


def _applied(override: CapOverride, default: Decimal | None) -> Decimal | None:
    if isinstance(override, Decimal):
        return override
    return default if override is None else None  # None: the setting's; "unlimited": no cap


class Spent(_Frozen):
    """What counts against the limits: the task's totals, the installation's today and this month (UTC)."""

    task: CostTotals = Field(default_factory=CostTotals)
    installation_day_usd: Decimal = Decimal(0)
    installation_month_usd: Decimal = Decimal(0)


class BudgetStop(_Frozen):
    """The limit that stops the next call: which, what was spent, the limit, and how to raise it."""

    limit: LimitName
    spent: str
    allowed: str
    raise_it: str  # trusted Markdown

    @property
    def error(self) -> str:
        """The workflow's error code (domain/failures.py)."""
        return "TaskBudgetExceeded" if self.limit.startswith("task") else "InstallationBudgetExceeded"

    @property
    def cause(self) -> str:
        return f"{LIMIT_WORDS[self.limit]}: spent {self.spent} of {self.allowed}"


LIMIT_WORDS: dict[LimitName, str] = {
    "task_usd": "the task's budget.max_usd",
    "task_agent_minutes": "the task's budget.max_agent_minutes",
    "installation_day_usd": "the installation's daily cap",
    "installation_month_usd": "the installation's monthly cap",
}
RAISE_TASK = (
    "raise `budget.{key}` in `.github/codeloop.yml` on the default branch, then comment `/codeloop retry`"
)
RAISE_INSTALLATION = (
    "an operator raises the installation's cap (`codeloop budget set <installation> --{flag} <usd>`, "
    "or the setting `{setting}`); or wait until {when}"
)


def cap_flag(field: str) -> str:
    """The ``codeloop budget set`` option of a cap: ``max_usd_per_day`` → ``max-usd-per-day``."""
    return field.replace("_", "-")


def raise_refusal(
    installation_id: int, current: InstallationCaps, requested: CapsOverride, resulting: InstallationCaps
) -> str | None:
    """Why an API key may not make ``requested`` its installation's override (``resulting`` once
    the settings fill its gaps), or None: it raises or lifts no cap (one that was none may be set).

    The caps bound what an installation spends of the operator's accounts, so a key of that very
    installation may lower them only; raising them is the operator's (``codeloop budget set``)."""
    raised = [
        field
        for field in InstallationCaps.model_fields
        if getattr(current, field) is not None
        and (getattr(resulting, field) is None or getattr(resulting, field) > getattr(current, field))
    ]
    if not raised:
        return None
    changes = "; ".join(
        f"{field} would go from {usd_text(getattr(current, field))} to "
        + (usd_text(getattr(resulting, field)) if getattr(resulting, field) is not None else "no cap")
        for field in raised
    )
    flags = " ".join(f"--{cap_flag(field)} {getattr(requested, field) or 'none'}" for field in raised)
    return (
        f"an API key may lower its installation's caps, not raise them: {changes}; "
        f"an operator raises it with `codeloop budget set {installation_id} {flags}` "
        "(or through a key made with `codeloop apikey create --may-raise-caps`)"
    )


def budget_stop(budget: TaskBudget, caps: InstallationCaps, spent: Spent) -> BudgetStop | None:
    """The first limit already reached, or None when another call may go.

    A limit is reached when what was spent is at or over it: the next call's cost is unknown
    before it is made, so a task stops at the call that would start over its budget.
    """
    task_usd = spent.task.usd or Decimal(0)
    if budget.max_usd is not None and task_usd >= budget.max_usd:
        return BudgetStop(
            limit="task_usd",
            spent=usd_text(task_usd),
            allowed=usd_text(budget.max_usd),
            raise_it=RAISE_TASK.format(key="max_usd"),
        )
    if budget.max_agent_minutes is not None and spent.task.agent_minutes >= budget.max_agent_minutes:
        return BudgetStop(
            limit="task_agent_minutes",
            spent=f"{spent.task.agent_minutes:.1f} min",
            allowed=f"{budget.max_agent_minutes:g} min",
            raise_it=RAISE_TASK.format(key="max_agent_minutes"),
        )
    return installation_stop(caps, spent)


def installation_stop(caps: InstallationCaps, spent: Spent) -> BudgetStop | None:
    """The installation's cap already reached today or this month, or None."""
    for limit, cap, used, field, setting, when in (
        (
            "installation_day_usd",
            caps.max_usd_per_day,
            spent.installation_day_usd,
            "max_usd_per_day",
            "INSTALLATION_MAX_USD_PER_DAY",
            "tomorrow (UTC)",
        ),
        (
            "installation_month_usd",
            caps.max_usd_per_month,
            spent.installation_month_usd,
            "max_usd_per_month",
            "INSTALLATION_MAX_USD_PER_MONTH",
            "next month (UTC)",
        ),
    ):
        if cap is not None and used >= cap:
            return BudgetStop(
                limit=limit,  # type: ignore[arg-type]
                spent=usd_text(used),
                allowed=usd_text(cap),
                raise_it=RAISE_INSTALLATION.format(flag=cap_flag(field), setting=setting, when=when),
            )
    return None


def refusal_text(stop: BudgetStop, login: str | None = None) -> str:
    """The one polite reply to a request from an installation over its cap (trusted Markdown)."""
    sorry = f"Sorry @{login}, codeloop" if login else "codeloop"
    return f"{sorry} is not starting new work here: {stop.cause}. To go on, {stop.raise_it}."


def period_starts(now: datetime) -> tuple[datetime, datetime]:
    """The start of ``now``'s UTC day and UTC month: the installation caps' periods."""
    now = now.astimezone(UTC)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return day, day.replace(day=1)


# -- telemetry -------------------------------------------------------------------------------------


def gen_ai_attributes(usage: Usage, prompt_name: str | None, cost: Decimal | None) -> dict[str, Any]:
    """The call in OpenTelemetry's GenAI semantic conventions, plus ``codeloop.cost.usd``."""
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": usage.operation,
        "gen_ai.provider.name": usage.provider,
        "gen_ai.request.model": usage.model,
        "gen_ai.usage.input_tokens": usage.input_tokens,
        "gen_ai.usage.output_tokens": usage.output_tokens,
        "gen_ai.prompt.name": prompt_name,
        "codeloop.cost.usd": float(cost) if cost is not None else None,
        "codeloop.duration.seconds": round(usage.duration_seconds, 3),
    }
    return attributes
