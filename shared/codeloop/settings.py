"""Settings: one pydantic model read from the environment, lazily, at first use.

Plain values come from environment variables named as in DESIGN.md. On AWS a secret may
instead be named by ARN (``<NAME>_SECRET_ARN``); it is then read from Secrets Manager through
Powertools' parameters utility, which caches it across warm invocations.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

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
}

# Settings that may be given as a Secrets Manager ARN instead of a plain value.
SECRET_SETTINGS = (
    "database_url",
    "github_app_private_key",
    "github_webhook_secret",
    "github_webhook_secret_previous",
    "codegen_api_key",
    "openai_api_key",
)


class SettingsError(RuntimeError):
    """A setting is missing or malformed; the message names the variable and what it expects."""


def env_name(field: str) -> str:
    return field.upper()


class Settings(BaseSettings):
    # An empty variable counts as unset (the deployment leaves optional values empty).
    model_config = SettingsConfigDict(
        env_prefix="", case_sensitive=False, extra="ignore", env_ignore_empty=True
    )

    database_url: SecretStr | None = None
    database_url_secret_arn: str | None = None

    github_app_id: int | None = None  # also tells codeloop's own check suites and runs from the repository's CI
    github_app_private_key: SecretStr | None = None
    github_app_private_key_path: Path | None = None
    github_app_private_key_secret_arn: str | None = None
    github_webhook_secret: SecretStr | None = None
    github_webhook_secret_secret_arn: str | None = None
    # During a rotation, deliveries signed with the previous secret are still accepted.
    github_webhook_secret_previous: SecretStr | None = None
    github_webhook_secret_previous_secret_arn: str | None = None
    github_api_url: str = "https://api.github.com"
    # The App's bot (`<slug>[bot]`) authors the pull requests codeloop's own diff provider opens.
    github_app_slug: str = "codeloop"

    codegen_api_url: str = "https://api.codegen.com"
    codegen_api_key: SecretStr | None = None
    codegen_api_key_secret_arn: str | None = None
    codegen_org_id: int | None = None
    # Who the Codegen agent opens pull requests as: only their PRs can be adopted as a task's.
    codegen_bot_logins: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["codegen-sh[bot]"])

    # Fallback provider: any OpenAI-compatible chat-completions endpoint.
    openai_base_url: str | None = None
    openai_api_key: SecretStr | None = None
    openai_api_key_secret_arn: str | None = None
    openai_model: str = "gpt-4o-mini"
    providers: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["codegen", "openai"])
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
    aws_region: str = Field(default="us-east-1", validation_alias="AWS_REGION")

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

    @field_validator("providers", "codegen_bot_logins", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("github_api_url", "codegen_api_url", "openai_base_url")
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
        return Settings()
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
