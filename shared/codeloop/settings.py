"""Settings: one object read from the environment, lazily, at first use.

Plain values come from environment variables named as in DESIGN.md. On AWS a secret may
instead be named by ARN (``<NAME>_SECRET_ARN``); it is then read from Secrets Manager through
Powertools' parameters utility, which caches it across warm invocations.

Each setting is declared with its kind (text, secret, url, integer, number, flag, names, ...),
which parses and bounds its value. Not a pydantic model: every process reads its settings on the
first request, and the webhook receiver's first delivery needs nothing of pydantic (~40 ms of a
cold start to import); the price table alone builds pydantic models, when it is set.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from codeloop.domain.learning import LearningPolicy
    from codeloop.domain.prices import ModelPrice

SECRET_CACHE_SECONDS = 300

# What each setting expects, in words: used in error messages so a missing or malformed value
# names the variable and what it wants.
EXPECTS: dict[str, str] = {
    "database_url": "a PostgreSQL URL such as postgresql://user@host:5432/codeloop",
    "github_app_id": "the GitHub App's numeric id (App settings → About)",
    "github_app_private_key": "the App's private key, PEM text (or GITHUB_APP_PRIVATE_KEY_PATH naming the file)",
    "github_webhook_secret": "the webhook secret set in the GitHub App's settings",
    "github_api_url": "an http(s) URL such as https://api.github.com",
    "codegen_api_url": "an http(s) URL such as https://api.codegen.com",
    "codegen_api_key": "a Codegen API token (codegen.com → settings → API token)",
    "codegen_org_id": "the Codegen organization id, a number",
    "openai_base_url": "the base URL of an OpenAI-compatible API, such as https://api.openai.com/v1",
    "openai_api_key": "an API key for the OpenAI-compatible endpoint",
    "events_queue_url": "the SQS URL of the events FIFO queue",
    "status_queue_url": "the SQS URL of the status FIFO queue",
    "prompt_queue_url": "the SQS URL of the prompt queue",
    "codegen_queue_url": "the SQS URL of the codegen queue",
    "validation_queue_url": "the SQS URL of the validation queue",
    "state_machine_arn": "the ARN of the task-to-pull-request state machine",
    "batch_state_machine_arn": "the ARN of the batch-tasks state machine",
    "codeloop_port": "a TCP port number, 1-65535",
    "max_context_chars": "a positive number of characters",
    "providers": "a comma-separated list of code-generation providers, e.g. codegen,openai",
    "retry_policies": 'JSON overrides of provider call retries per error class, e.g. {"retryable": {"max_attempts": 3}}',
    "codegen_runs_per_minute": "a positive number of new Codegen agent runs allowed in any 60 seconds",
    "breaker_failure_threshold": "a positive number of provider failures that opens its circuit breaker",
    "breaker_window_seconds": "seconds within which breaker failures are counted",
    "breaker_cooldown_seconds": "seconds an open breaker waits before one probe call",
    "agent_run_deadline_minutes": "minutes an agent run may stay silent before it is given up",
    "github_app_slug": "the GitHub App's slug (the name in its URL), e.g. codeloop",
    "validation_budget_seconds": "seconds a validation may take when not on Lambda, e.g. 1200",
    "validation_report_margin_seconds": "seconds kept back from the Lambda's time to report, e.g. 60",
    "validation_runner_queue_url": "the runner queue's URL (set by make dev), or VALIDATION_RUNNER_FUNCTION on AWS",
    "repo_checks_wait_minutes": "minutes to wait for the repository's own CI, e.g. 60",
    "front_db_wait_seconds": "seconds the HTTP front waits for a database connection before answering 503, e.g. 1.0",
    "api_key_requests_per_minute": "a positive number of task API requests one key may make in any 60 seconds",
    "codegen_bot_logins": "comma-separated GitHub logins the Codegen agent opens pull requests as, "
    "e.g. codegen-sh[bot]",
    "diff_max_files": "a positive number of files one diff may change, e.g. 50",
    "diff_max_bytes": "a positive number of bytes one diff may have, e.g. 1000000",
    "command_rate_window_seconds": "the seconds over which command rate limits count, e.g. 3600",
    "work_commands_per_user": "a positive number of commands that start work one user may give per window",
    "work_commands_per_installation": "a positive number of commands that start work per installation per window",
    "replies_per_user": "a positive number of command replies one user may get per window",
    "replies_per_installation": "a positive number of command replies per installation per window",
    "model_prices": "JSON prices in USD per million tokens (or per agent minute), e.g. "
    '{"gpt-4o-mini": {"input": 0.15, "output": 0.6}, "codegen": {"minute": 0.05}}',
    "installation_max_usd_per_day": "USD an installation may spend per UTC day, e.g. 50 (unset: no cap)",
    "installation_max_usd_per_month": "USD an installation may spend per UTC month, e.g. 500 (unset: no cap)",
    "github_app_client_id": "the GitHub App's OAuth client id (App settings → About; `codeloop app create` writes it)",
    "github_app_client_secret": "the GitHub App's OAuth client secret (on AWS: GITHUB_APP_CLIENT_SECRET_ARN, "
    'a secret holding JSON {"client_id", "client_secret"})',
    "dashboard_session_hours": "hours a dashboard sign-in lasts, e.g. 8",
    "dashboard_access_recheck_minutes": "minutes between checks of a dashboard user's repositories, e.g. 10",
    "learning_trial_share": "the share of choices (0-1) each new prompt template version is guaranteed, e.g. 0.1",
    "learning_trial_outcomes": "the outcomes after which a prompt template version is no longer new, e.g. 10",
    "learning_repository_min_outcomes": "a repository's own task outcomes before its posteriors are used, e.g. 30",
    "slack_signing_secret": "the Slack app's signing secret (Basic Information → App Credentials)",
    "slack_bot_token": "the Slack app's bot token, xoxb-… (OAuth & Permissions)",
    "slack_api_url": "an http(s) URL such as https://slack.com/api",
    "linear_webhook_secret": "the signing secret Linear shows for the webhook (Settings → API → Webhooks)",
    "linear_api_key": "a Linear API key (Settings → API → Personal API keys) or an OAuth token as 'Bearer …'",
    "linear_api_url": "an http(s) URL such as https://api.linear.app/graphql",
    "linear_link_by_email": "true or false",
}

# Settings that may be given as a Secrets Manager ARN instead of a plain value.
SECRET_SETTINGS = (
    "database_url",
    "github_app_private_key",
    "github_webhook_secret",
    "github_webhook_secret_previous",
    "codegen_api_key",
    "openai_api_key",
    "slack_signing_secret",
    "slack_bot_token",
    "github_app_client_secret",
    "linear_webhook_secret",
    "linear_api_key",
)


# template.yaml creates the secrets an operator fills in later (Slack, Linear, the Codegen token, the
# App's key and OAuth client) with "REPLACE_WITH_..." as their text: such a value is not a secret
# (anyone can read it in the template), so it counts as unset.
PLACEHOLDER_PREFIX = "REPLACE_WITH_"


class SettingsError(RuntimeError):
    """A setting is missing or malformed; the message names the variable and what it expects."""


def env_name(field: str) -> str:
    return field.upper()


class Secret:
    """A secret's text, never shown by ``repr`` or ``str`` (so never in a log line)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class Setting:
    """One setting: its default, and how a given value (text from the environment, or a Python
    value from a test) becomes the setting's value; ``parse`` raises ValueError with the reason."""

    def __init__(
        self, parse: Callable[[Any], Any], default: Any = None, *, factory: Callable[[], Any] | None = None
    ):
        self.parse = parse
        self._default = default
        self._factory = factory
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @property
    def default(self) -> Any:
        return self._factory() if self._factory else self._default


def _bounded(value: Any, gt: float | None, ge: float | None, le: float | None) -> Any:
    if gt is not None and not value > gt:
        raise ValueError(f"must be greater than {gt:g}")
    if ge is not None and not value >= ge:
        raise ValueError(f"must be at least {ge:g}")
    if le is not None and not value <= le:
        raise ValueError(f"must be at most {le:g}")
    return value


def text(default: str | None = None) -> Any:
    return Setting(str, default)


def secret() -> Any:
    return Setting(lambda value: value if isinstance(value, Secret) else Secret(str(value)))


def path() -> Any:
    return Setting(Path)


def url(default: str | None = None) -> Any:
    def parse(value: Any) -> str:
        parts = urlsplit(str(value))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL")
        return str(value).rstrip("/")

    return Setting(parse, default)


def integer(
    default: int | None = None, *, gt: int | None = None, ge: int | None = None, le: int | None = None
) -> Any:
    def parse(value: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError("must be a whole number")
        try:
            number = int(value.strip()) if isinstance(value, str) else value
        except ValueError:
            raise ValueError("must be a whole number") from None
        return _bounded(number, gt, ge, le)

    return Setting(parse, default)


def number(
    default: float | None = None, *, gt: float | None = None, ge: float | None = None, le: float | None = None
) -> Any:
    def parse(value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError("must be a number")
        try:
            result = float(value)
        except (TypeError, ValueError):
            raise ValueError("must be a number") from None
        if result != result or result in (float("inf"), float("-inf")):
            raise ValueError("must be a finite number")
        return _bounded(result, gt, ge, le)

    return Setting(parse, default)


def money() -> Any:
    """USD, exact (a Decimal), above zero; unset by default."""

    def parse(value: Any) -> Decimal:
        if isinstance(value, bool):
            raise ValueError("must be a number")
        if isinstance(value, float):
            value = str(value)
        try:
            amount = Decimal(value.strip() if isinstance(value, str) else value)
        except (InvalidOperation, TypeError, ValueError):
            raise ValueError("must be a number") from None
        if not amount.is_finite():
            raise ValueError("must be a finite number")
        return _bounded(amount, 0, None, None)

    return Setting(parse)


TRUE_WORDS = {"1", "true", "t", "yes", "y", "on"}
FALSE_WORDS = {"0", "false", "f", "no", "n", "off"}


def flag(default: bool) -> Any:
    def parse(value: Any) -> bool:
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word in TRUE_WORDS | FALSE_WORDS:
            return word in TRUE_WORDS
        raise ValueError("must be true or false")

    return Setting(parse, default)


def names(*default: str) -> Any:
    """A comma-separated list (or a Python list), blanks dropped."""

    def parse(value: Any) -> list[str]:
        parts = value.split(",") if isinstance(value, str) else value
        if not isinstance(parts, list | tuple) or not all(isinstance(part, str) for part in parts):
            raise ValueError("must be a comma-separated list")
        return [part.strip() for part in parts if part.strip()]

    return Setting(parse, factory=lambda: list(default))


def _mapping(value: Any) -> dict[str, Any]:
    """A JSON object (or a Python dict)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError("must be a JSON object") from None
    if not isinstance(value, dict):
        raise ValueError("must be a JSON object")
    return value


def retry_overrides() -> Any:
    """{"<error class>": {"<field>": number or text}} (domain/call_retries.py checks the names)."""

    def parse(value: Any) -> dict[str, dict[str, float | int | str]]:
        table = _mapping(value)
        for overrides in table.values():
            if not isinstance(overrides, dict) or not all(
                isinstance(item, int | float | str) and not isinstance(item, bool)
                for item in overrides.values()
            ):
                raise ValueError("each error class must map to an object of numbers or text")
        return table

    return Setting(parse, factory=dict)


def price_table() -> Any:
    """Prices per model (domain/prices.py), built only when set: they are pydantic models."""

    def parse(value: Any) -> dict[str, ModelPrice]:
        from pydantic import ValidationError

        from codeloop.domain.prices import parse_price_table

        table: dict[str, ModelPrice] = {}
        for model, price in _mapping(value).items():
            try:
                table |= parse_price_table({model: price})
            except ValidationError as invalid:
                first = invalid.errors()[0]
                where = ".".join(map(str, (model, *first["loc"])))
                raise ValueError(f"{where}: {first['msg']}") from None
        return table

    return Setting(parse, factory=dict)


class Settings:
    """Every setting, each read from the environment variable of its name in capitals
    (:meth:`from_environment`); built from keyword values (a test's), checked as they are."""

    database_url = secret()
    database_url_secret_arn = text()

    github_app_id = integer()  # also tells codeloop's own check suites and runs from the repository's CI
    github_app_private_key = secret()
    github_app_private_key_path = path()
    github_app_private_key_secret_arn = text()
    github_webhook_secret = secret()
    github_webhook_secret_secret_arn = text()
    # During a rotation, deliveries signed with the previous secret are still accepted.
    github_webhook_secret_previous = secret()
    github_webhook_secret_previous_secret_arn = text()
    # The App's OAuth client, for the dashboard's sign-in with GitHub. On AWS the secret named by
    # GITHUB_APP_CLIENT_SECRET_ARN holds both, as JSON {"client_id", "client_secret"}.
    github_app_client_id = text()
    github_app_client_secret = secret()
    github_app_client_secret_arn = text()
    dashboard_session_hours = number(8.0, gt=0, le=24 * 7)
    # The App asks GitHub for a signed-in user's role on each of their repositories this often.
    dashboard_access_recheck_minutes = number(10.0, gt=0, le=24 * 60)
    github_api_url = url("https://api.github.com")
    # The App's bot (`<slug>[bot]`) authors the pull requests codeloop's own diff provider opens.
    github_app_slug = text("codeloop")

    codegen_api_url = url("https://api.codegen.com")
    codegen_api_key = secret()
    codegen_api_key_secret_arn = text()
    codegen_org_id = integer()
    # Who the Codegen agent opens pull requests as: only their PRs can be adopted as a task's.
    codegen_bot_logins = names("codegen-sh[bot]")

    # Fallback provider: any OpenAI-compatible chat-completions endpoint.
    openai_base_url = url()
    openai_api_key = secret()
    openai_api_key_secret_arn = text()
    openai_model = text("gpt-4o-mini")
    providers = names("codegen", "openai")
    # Provider call retries per error class (domain/call_retries.py), overridable per repository.
    retry_policies = retry_overrides()
    codegen_runs_per_minute = integer(10, ge=1)
    breaker_failure_threshold = integer(5, ge=1)
    breaker_window_seconds = integer(300, ge=1)
    breaker_cooldown_seconds = integer(120, ge=1)
    agent_run_deadline_minutes = integer(180, ge=1)
    # Caps on one diff from a diff provider (domain/diffs.py).
    diff_max_files = integer(50, ge=1)
    diff_max_bytes = integer(1_000_000, ge=1)
    # Slash-command rate limits (sliding windows in PostgreSQL): commands that start work, replies.
    command_rate_window_seconds = integer(3600, ge=1)
    work_commands_per_user = integer(20, ge=1)
    work_commands_per_installation = integer(100, ge=1)
    replies_per_user = integer(30, ge=1)
    replies_per_installation = integer(300, ge=1)
    # Costs (domain/costs.py): the price table, and the installations' caps unless overridden.
    model_prices = price_table()
    installation_max_usd_per_day = money()
    installation_max_usd_per_month = money()

    # Slack: the /codeloop slash command and buttons (signing secret), messages (bot token).
    slack_signing_secret = secret()
    slack_signing_secret_secret_arn = text()
    slack_bot_token = secret()
    slack_bot_token_secret_arn = text()
    slack_api_url = url("https://slack.com/api")
    # Linear (optional): its webhook's signing secret, an API key, and where its API is.
    linear_webhook_secret = secret()
    linear_webhook_secret_secret_arn = text()
    linear_api_key = secret()
    linear_api_key_secret_arn = text()
    linear_api_url = url("https://api.linear.app/graphql")
    # Link an unlinked Linear user by email: to the GitHub account that committed to the mapped
    # repository from that address (GitHub links commits to accounts by verified emails only).
    linear_link_by_email = flag(False)

    events_queue_url = text()
    status_queue_url = text()
    prompt_queue_url = text()
    codegen_queue_url = text()
    validation_queue_url = text()
    # How the status syncer starts the validation runner: the function (AWS), or a queue (local).
    validation_runner_function = text()
    validation_runner_queue_url = text()
    state_machine_arn = text()
    batch_state_machine_arn = text()
    aws_endpoint_url = text()
    aws_region = text("us-east-1")

    max_context_chars = integer(60_000, gt=0)
    codeloop_port = integer(3000, ge=1, le=65535)
    db_pool_max_size = integer(4, ge=1)
    api_key_requests_per_minute = integer(120, ge=1)
    # Under GitHub's 10 s and the receiver's own timeout: a delivery refused with 503 is listed as
    # failed by GitHub, and the sweeper asks for it again once the database is back.
    front_db_wait_seconds = number(1.0, gt=0, le=8)

    # Validation: on Lambda the budget is the remaining time minus the margin; elsewhere, this.
    validation_budget_seconds = number(1200.0, gt=0)
    validation_report_margin_seconds = number(60.0, ge=0)
    # The unprivileged user validation commands run as when the runner is root (make dev sets
    # "nobody"); unset, they run as the runner's own user.
    validation_user = text()
    # Less than the ValidatePR step's TimeoutSeconds (2 h) minus the longest validation (15 min).
    repo_checks_wait_minutes = number(60.0, gt=0, le=100)

    # Template versions chosen by outcomes (domain/learning.py; tuned by bench/learning.py). Unset,
    # each is LearningPolicy's own default.
    learning_trial_share = number(ge=0, le=1)
    learning_trial_outcomes = integer(ge=0)
    learning_repository_min_outcomes = integer(ge=1)

    def __init__(self, **values: Any) -> None:
        fields = self.fields()
        unknown = set(values) - set(fields)
        if unknown:
            raise TypeError(f"no such setting: {', '.join(sorted(unknown))}")
        problems = []
        for name, setting in fields.items():
            if values.get(name) is None:
                value = setting.default
            else:
                try:
                    value = setting.parse(values[name])
                except (ValueError, TypeError) as malformed:
                    shown = "<secret>" if name in SECRET_SETTINGS else repr(values[name])
                    problems.append(
                        f"{env_name(name)}={shown} is malformed ({malformed}): "
                        f"expected {EXPECTS.get(name, 'a valid value')}"
                    )
                    continue
            setattr(self, name, value)
        if problems:
            raise SettingsError("; ".join(problems))

    @classmethod
    @functools.cache
    def fields(cls) -> dict[str, Setting]:
        """Every setting by name, in the order declared."""
        return {name: value for name, value in vars(cls).items() if isinstance(value, Setting)}

    @classmethod
    def from_environment(cls) -> Settings:
        """The settings the environment gives. Names are matched without case; an empty variable
        counts as unset (the deployment leaves optional values empty); a mapping is JSON; a list
        is comma-separated."""
        environment = {name.lower(): value for name, value in os.environ.items() if value != ""}
        return cls(**{name: environment[name] for name in cls.fields() if name in environment})

    @property
    def learning_policy(self) -> LearningPolicy:
        from codeloop.domain.learning import LearningPolicy

        given = {
            "trial_share": self.learning_trial_share,
            "trial_outcomes": self.learning_trial_outcomes,
            "repository_min_outcomes": self.learning_repository_min_outcomes,
        }
        return LearningPolicy(**{name: value for name, value in given.items() if value is not None})

    # -- access ----------------------------------------------------------------------------

    def require(self, field: str) -> object:
        """The value of a setting that this code path cannot do without."""
        value = getattr(self, field)
        if value is None or value == "":
            raise SettingsError(f"{env_name(field)} is not set: expected {EXPECTS.get(field, 'a value')}")
        return value

    def secret(self, field: str) -> str:
        """A secret's plain text: from its variable, or from Secrets Manager by ``*_SECRET_ARN``."""
        value = self.optional_secret(field)
        if value is None:
            raise SettingsError(
                f"{env_name(field)} is not set (nor {env_name(field)}_SECRET_ARN): "
                f"expected {EXPECTS.get(field, 'a value')}"
            )
        return value

    def optional_secret(self, field: str) -> str | None:
        """A secret's plain text, or None when it is unset or still holds the stack's placeholder."""
        value = self._secret_text(field)
        return None if value is None or value.startswith(PLACEHOLDER_PREFIX) else value

    def _secret_text(self, field: str) -> str | None:
        value = getattr(self, field)
        if value is not None:
            return value.get_secret_value()
        if field == "github_app_private_key" and self.github_app_private_key_path is not None:
            try:
                return self.github_app_private_key_path.read_text()
            except OSError as exc:
                raise SettingsError(
                    f"GITHUB_APP_PRIVATE_KEY_PATH={self.github_app_private_key_path} cannot be read "
                    f"({exc.strerror}): expected the path of the App's PEM private key"
                ) from exc
        arn = getattr(self, f"{field}_secret_arn", None)
        if arn:
            return _secret_from_aws(arn)
        return None

    @property
    def github_web_host(self) -> str:
        """The host that clone URLs must use: GITHUB_API_URL's host without a leading ``api.``."""
        host = urlsplit(self.github_api_url).netloc.lower()
        return host.removeprefix("api.")

    @property
    def github_web_url(self) -> str:
        """GitHub's web origin (new-App and install pages): GITHUB_API_URL's scheme and web host."""
        return f"{urlsplit(self.github_api_url).scheme}://{self.github_web_host}"

    @property
    def github_oauth_url(self) -> str:
        """Where sign-in with GitHub happens: ``<web origin>/login/oauth`` (github.com, or a GHES host)."""
        return f"{self.github_web_url}/login/oauth"

    def oauth_client(self) -> tuple[str, str]:
        """The App's OAuth client id and secret: from their variables, or the JSON secret by ARN."""
        secret = self.optional_secret("github_app_client_secret")
        if self.github_app_client_id and secret is not None:
            return self.github_app_client_id, secret
        if self.github_app_client_secret_arn:
            try:
                client = json.loads(_secret_from_aws(self.github_app_client_secret_arn))
                client_id, client_secret = str(client["client_id"]), str(client["client_secret"])
            except (ValueError, KeyError, TypeError):
                raise SettingsError(
                    "GITHUB_APP_CLIENT_SECRET_ARN names a secret that is not JSON "
                    '{"client_id", "client_secret"}'
                ) from None
            if not client_secret.startswith(PLACEHOLDER_PREFIX):
                return client_id, client_secret
            raise SettingsError(
                "GITHUB_APP_CLIENT_SECRET_ARN names a secret that still holds the stack's placeholder: "
                "run `codeloop app create --stack NAME`, or put the App's OAuth client in it"
            )
        missing = "GITHUB_APP_CLIENT_ID" if not self.github_app_client_id else "GITHUB_APP_CLIENT_SECRET"
        raise SettingsError(f"{missing} is not set: expected {EXPECTS[env_name(missing).lower()]}")


def _secret_from_aws(arn: str) -> str:
    # Imported here: only a deployed function that names secrets by ARN pays for it.
    from aws_lambda_powertools.utilities import parameters

    value = parameters.get_secret(arn, max_age=SECRET_CACHE_SECONDS)
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


@functools.cache
def get_settings() -> Settings:
    """The process's settings, read from the environment at first use and then reused."""
    return Settings.from_environment()


def reset_settings() -> None:
    """Forget the cached settings (tests and the local stack change the environment)."""
    get_settings.cache_clear()
