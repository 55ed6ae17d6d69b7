"""Settings: one pydantic model read from the environment, lazily, at first use.

Plain values come from environment variables named as in DESIGN.md. On AWS a secret may
instead be named by ARN (``<NAME>_SECRET_ARN``); it is then read from Secrets Manager through
Powertools' parameters utility, which caches it across warm invocations.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any, get_origin
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from codeloop.domain.learning import LearningPolicy
from codeloop.domain.prices import ModelPrice, parse_price_table

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
    "model_prices": 'JSON prices in USD per million tokens (or per agent minute), e.g. '
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


class SettingsError(RuntimeError):
    """A setting is missing or malformed; the message names the variable and what it expects."""


def env_name(field: str) -> str:
    return field.upper()


class Settings(BaseModel):
    """Every setting, each read from the environment variable of its name in capitals
    (:meth:`from_environment`); a plain model, so a test can build one from values."""

    model_config = ConfigDict(extra="ignore")

    database_url: SecretStr | None = None
    database_url_secret_arn: str | None = None

    github_app_id: int | None = (
        None  # also tells codeloop's own check suites and runs from the repository's CI
    )
    github_app_private_key: SecretStr | None = None
    github_app_private_key_path: Path | None = None
    github_app_private_key_secret_arn: str | None = None
    github_webhook_secret: SecretStr | None = None
    github_webhook_secret_secret_arn: str | None = None
    # During a rotation, deliveries signed with the previous secret are still accepted.
    github_webhook_secret_previous: SecretStr | None = None
    github_webhook_secret_previous_secret_arn: str | None = None
    # The App's OAuth client, for the dashboard's sign-in with GitHub. On AWS the secret named by
    # GITHUB_APP_CLIENT_SECRET_ARN holds both, as JSON {"client_id", "client_secret"}.
    github_app_client_id: str | None = None
    github_app_client_secret: SecretStr | None = None
    github_app_client_secret_arn: str | None = None
    dashboard_session_hours: float = Field(default=8.0, gt=0, le=24 * 7)
    # The App asks GitHub for a signed-in user's role on each of their repositories this often.
    dashboard_access_recheck_minutes: float = Field(default=10.0, gt=0, le=24 * 60)
    github_api_url: str = "https://api.github.com"
    # The App's bot (`<slug>[bot]`) authors the pull requests codeloop's own diff provider opens.
    github_app_slug: str = "codeloop"

    codegen_api_url: str = "https://api.codegen.com"
    codegen_api_key: SecretStr | None = None
    codegen_api_key_secret_arn: str | None = None
    codegen_org_id: int | None = None
    # Who the Codegen agent opens pull requests as: only their PRs can be adopted as a task's.
    codegen_bot_logins: list[str] = Field(default_factory=lambda: ["codegen-sh[bot]"])

    # Fallback provider: any OpenAI-compatible chat-completions endpoint.
    openai_base_url: str | None = None
    openai_api_key: SecretStr | None = None
    openai_api_key_secret_arn: str | None = None
    openai_model: str = "gpt-4o-mini"
    providers: list[str] = Field(default_factory=lambda: ["codegen", "openai"])
    # Provider call retries per error class (domain/call_retries.py), overridable per repository.
    retry_policies: dict[str, dict[str, float | int | str]] = Field(default_factory=dict)
    codegen_runs_per_minute: int = Field(default=10, ge=1)
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_window_seconds: int = Field(default=300, ge=1)
    breaker_cooldown_seconds: int = Field(default=120, ge=1)
    agent_run_deadline_minutes: int = Field(default=180, ge=1)
    # Caps on one diff from a diff provider (domain/diffs.py).
    diff_max_files: int = Field(default=50, ge=1)
    diff_max_bytes: int = Field(default=1_000_000, ge=1)
    # Slash-command rate limits (sliding windows in PostgreSQL): commands that start work, replies.
    command_rate_window_seconds: int = Field(default=3600, ge=1)
    work_commands_per_user: int = Field(default=20, ge=1)
    work_commands_per_installation: int = Field(default=100, ge=1)
    replies_per_user: int = Field(default=30, ge=1)
    replies_per_installation: int = Field(default=300, ge=1)
    # Costs (domain/costs.py): the price table, and the installations' caps unless overridden.
    model_prices: dict[str, ModelPrice] = Field(default_factory=dict)
    installation_max_usd_per_day: Decimal | None = Field(default=None, gt=0)
    installation_max_usd_per_month: Decimal | None = Field(default=None, gt=0)

    # Slack: the /codeloop slash command and buttons (signing secret), messages (bot token).
    slack_signing_secret: SecretStr | None = None
    slack_signing_secret_secret_arn: str | None = None
    slack_bot_token: SecretStr | None = None
    slack_bot_token_secret_arn: str | None = None
    slack_api_url: str = "https://slack.com/api"
    # Linear (optional): its webhook's signing secret, an API key, and where its API is.
    linear_webhook_secret: SecretStr | None = None
    linear_webhook_secret_secret_arn: str | None = None
    linear_api_key: SecretStr | None = None
    linear_api_key_secret_arn: str | None = None
    linear_api_url: str = "https://api.linear.app/graphql"
    # Link an unlinked Linear user by email: to the GitHub account that committed to the mapped
    # repository from that address (GitHub links commits to accounts by verified emails only).
    linear_link_by_email: bool = False

    events_queue_url: str | None = None
    status_queue_url: str | None = None
    prompt_queue_url: str | None = None
    codegen_queue_url: str | None = None
    validation_queue_url: str | None = None
    # How the status syncer starts the validation runner: the function (AWS), or a queue (local).
    validation_runner_function: str | None = None
    validation_runner_queue_url: str | None = None
    state_machine_arn: str | None = None
    batch_state_machine_arn: str | None = None
    aws_endpoint_url: str | None = None
    aws_region: str = "us-east-1"

    max_context_chars: int = Field(default=60_000, gt=0)
    codeloop_port: int = Field(default=3000, ge=1, le=65535)
    db_pool_max_size: int = Field(default=4, ge=1)
    api_key_requests_per_minute: int = Field(default=120, ge=1)
    # Under GitHub's 10 s and the receiver's own timeout: a delivery refused with 503 is listed as
    # failed by GitHub, and the sweeper asks for it again once the database is back.
    front_db_wait_seconds: float = Field(default=1.0, gt=0, le=8)

    # Validation: on Lambda the budget is the remaining time minus the margin; elsewhere, this.
    validation_budget_seconds: float = Field(default=1200.0, gt=0)
    validation_report_margin_seconds: float = Field(default=60.0, ge=0)
    # The unprivileged user validation commands run as when the runner is root (make dev sets
    # "nobody"); unset, they run as the runner's own user.
    validation_user: str | None = None
    # Less than the ValidatePR step's TimeoutSeconds (2 h) minus the longest validation (15 min).
    repo_checks_wait_minutes: float = Field(default=60.0, gt=0, le=100)

    # Template versions chosen by outcomes (domain/learning.py; defaults tuned by bench/learning.py).
    learning_trial_share: float = Field(default=LearningPolicy().trial_share, ge=0, le=1)
    learning_trial_outcomes: int = Field(default=LearningPolicy().trial_outcomes, ge=0)
    learning_repository_min_outcomes: int = Field(default=LearningPolicy().repository_min_outcomes, ge=1)

    @classmethod
    def from_environment(cls) -> Settings:
        """The settings the environment gives. Names are matched without case; an empty variable
        counts as unset (the deployment leaves optional values empty); a mapping is JSON; a list
        is comma-separated."""
        environment = {name.lower(): value for name, value in os.environ.items() if value != ""}
        values: dict[str, Any] = {}
        for field, info in cls.model_fields.items():
            if field not in environment:
                continue
            raw = environment[field]
            if get_origin(info.annotation) is dict:
                with contextlib.suppress(ValueError):  # else left as text: validation says what it expects
                    raw = json.loads(raw)
            values[field] = raw
        return cls.model_validate(values)

    @property
    def learning_policy(self) -> LearningPolicy:
        return LearningPolicy(
            trial_share=self.learning_trial_share,
            trial_outcomes=self.learning_trial_outcomes,
            repository_min_outcomes=self.learning_repository_min_outcomes,
        )

    @field_validator("providers", "codegen_bot_logins", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("model_prices", mode="before")
    @classmethod
    def _price_table(cls, value: object) -> object:
        return parse_price_table(value) if isinstance(value, dict) else value

    @field_validator("github_api_url", "codegen_api_url", "openai_base_url", "slack_api_url", "linear_api_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

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
        secret = self.github_app_client_secret
        if self.github_app_client_id and secret is not None:
            return self.github_app_client_id, secret.get_secret_value()
        if self.github_app_client_secret_arn:
            try:
                client = json.loads(_secret_from_aws(self.github_app_client_secret_arn))
                return str(client["client_id"]), str(client["client_secret"])
            except (ValueError, KeyError, TypeError):
                raise SettingsError(
                    "GITHUB_APP_CLIENT_SECRET_ARN names a secret that is not JSON "
                    '{"client_id", "client_secret"}'
                ) from None
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
    try:
        return Settings.from_environment()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            raw = os.environ.get(env_name(field), "")
            shown = "<secret>" if field in SECRET_SETTINGS else repr(raw)
            problems.append(
                f"{env_name(field)}={shown} is malformed ({error['msg']}): "
                f"expected {EXPECTS.get(field, 'a valid value')}"
            )
        raise SettingsError("; ".join(problems)) from None


def reset_settings() -> None:
    """Forget the cached settings (tests and the local stack change the environment)."""
    get_settings.cache_clear()
