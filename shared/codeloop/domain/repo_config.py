"""The per-repository configuration, ``.github/codeloop.yml`` on the default branch.

Every key is optional; an unknown key is an error the bot reports on the PR. The JSON schema
published at ``schemas/codeloop.schema.json`` is generated from these models
(``codeloop config schema``), so the two cannot drift.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from codeloop.domain.costs import TaskBudget

CONFIG_PATH = ".github/codeloop.yml"

Permission = Literal["read", "triage", "write", "maintain", "admin"]
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
# The same rule as local_url, for the published schema (editors flag a non-local URL as you type).
LOCAL_URL_PATTERN = r"^https?://(127\.0\.0\.1|localhost|\[::1\])(:[0-9]+)?([/?#].*)?$"
HttpMethod = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def local_url(url: str) -> str:
    """``url`` when it is http(s) on this machine: a deployment is only ever reached on loopback,
    so a check can never be pointed at another host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{url!r} must be an http:// or https:// URL")
    if parts.hostname not in LOCAL_HOSTS:
        raise ValueError(
            f"{url!r} must be on this machine ({', '.join(LOCAL_HOSTS)}), not {parts.hostname or 'no host'!r}"
        )
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ValueError(f"{url!r} has an invalid port") from None
    return url


class ReadyConfig(_Strict):
    url: str | None = Field(
        default=None,
        description="Polled until it answers 2xx or 3xx: 127.0.0.1, localhost or ::1 only.",
        json_schema_extra={"pattern": LOCAL_URL_PATTERN},
    )
    command: str | None = Field(default=None, description="Run until it exits 0, in the sandbox.")
    timeout_seconds: float = Field(default=60, gt=0, le=900)

    @field_validator("url")
    @classmethod
    def _local(cls, value: str | None) -> str | None:
        return value if value is None else local_url(value)

    @model_validator(mode="after")
    def _url_or_command(self) -> ReadyConfig:
        if (self.url is None) == (self.command is None):
            raise ValueError("give either url or command")
        return self


class HttpCheck(_Strict):
    name: str = Field(min_length=1, max_length=100)
    url: str = Field(
        description="On this machine: 127.0.0.1, localhost or ::1.",
        json_schema_extra={"pattern": LOCAL_URL_PATTERN},
    )
    method: HttpMethod = "GET"
    status: int = Field(default=200, ge=100, le=599, description="The status the answer must have.")
    contains: str | None = Field(default=None, description="Text the answer's body must contain.")
    timeout_seconds: float = Field(default=10, gt=0, le=300)

    @field_validator("url")
    @classmethod
    def _local(cls, value: str) -> str:
        return local_url(value)


class ReviewConfig(_Strict):
    enabled: bool = Field(
        default=False, description="Ask the OpenAI-compatible provider to review the pull request."
    )
    blocking: bool = Field(
        default=False,
        description="A review that requests changes fails the attempt (else it only annotates).",
    )
    instructions: str = Field(
        default="", max_length=4_000, description="What the reviewer should look at, added to its prompt."
    )


class ValidationConfig(_Strict):
    setup: list[str] = Field(default_factory=list, description="Commands run in order in the PR's checkout.")
    deploy: list[str] = Field(
        default_factory=list,
        description="Commands started in the background after setup (the app); stopped when the validation ends.",
    )
    ready: ReadyConfig | None = Field(default=None, description="When the deployment is ready to be checked.")
    checks: list[HttpCheck] = Field(
        default_factory=list, description="HTTP checks against the running app, before the tests."
    )
    test: list[str] = Field(default_factory=list, description="Test commands; any non-zero exit fails.")
    junit: list[str] = Field(default_factory=list, description="JUnit XML result files to annotate.")
    timeout_minutes: int = Field(default=20, ge=1, le=120)
    include_repo_checks: bool = Field(default=True, description="Also wait for the repository's own CI.")
    forks: bool = Field(default=False, description="Run code from forks (only if a maintainer opts in).")
    review: ReviewConfig = Field(
        default_factory=ReviewConfig,
        description="An AI review of the diff, the acceptance criteria and the results, after the tests.",
    )

    @model_validator(mode="after")
    def _checks_need_a_deployment(self) -> ValidationConfig:
        if (self.ready or self.checks) and not self.deploy:
            raise ValueError("ready and checks need deploy: commands that start the app")
        names = [check.name for check in self.checks]
        if len(set(names)) != len(names):
            raise ValueError("each check needs its own name")
        return self


class CommandsConfig(_Strict):
    min_permission: Literal["write", "maintain", "admin"] = "write"


class AutoMergeConfig(_Strict):
    method: Literal["squash", "merge", "rebase"] = Field(
        default="squash", description="How the agent's pull request is merged."
    )


class SlackNotifyConfig(_Strict):
    channel: str = Field(
        min_length=1,
        max_length=80,
        pattern=r"^(#[a-z0-9][a-z0-9._-]*|[CG][A-Z0-9]+)$",
        description="The Slack channel each task's one message goes to: #name or a channel id (C…).",
    )


class NotifyConfig(_Strict):
    slack: SlackNotifyConfig | None = Field(default=None, description="One Slack message per task, kept up to date.")


class LinearConfig(_Strict):
    done_state: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="The Linear workflow state (by name) an issue moves to when its task ends green; the "
        "team mapping's done state wins when it has one.",
    )


class PromptPin(_Strict):
    template: str = Field(description="A template id from prompts/.")
    version: int | None = Field(default=None, ge=1, description="Pin a version; latest when absent.")


class RepoConfig(_Strict):
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    iterations: int = Field(default=3, ge=0, le=10, description="Fix attempts after the first try.")
    commands: CommandsConfig = Field(default_factory=CommandsConfig)
    auto_merge: bool | AutoMergeConfig = Field(
        default=False,
        description="Merge the agent's pull request once its task ends green: GitHub's auto-merge when the "
        "repository allows it (branch protection still decides), else a merge only when GitHub reports it "
        "mergeable and every check green. true means {method: squash}.",
    )
    max_context_chars: int | None = Field(default=None, gt=0, description="Prompt context budget.")
    providers: list[str] | None = Field(default=None, description="Code-generation providers, in order.")
    prompts: dict[str, PromptPin | str] = Field(
        default_factory=dict, description="Per task type: a template id, or {template, version}."
    )
    protected_paths: list[str] = Field(
        default_factory=list,
        description="Globs (** crosses directories) of paths no agent may change unreviewed, added to "
        ".github/workflows/** and .github/codeloop.yml: a pull request changing one is not validated.",
    )
    notify: NotifyConfig = Field(default_factory=NotifyConfig, description="Where else tasks are reported.")
    linear: LinearConfig = Field(
        default_factory=LinearConfig, description="Tasks started from Linear issues mapped to this repository."
    )
    budget: TaskBudget = Field(
        default_factory=TaskBudget,
        description="Per task, over all its attempts: USD (priced by the deployment's MODEL_PRICES) and minutes "
        "of agent and model calls; the task stops before the agent call that would start over either.",
    )
    retry: dict[str, dict[str, float | int | str]] = Field(
        default_factory=dict,
        description="Provider call retries per error class (retryable, rate_limited, outcome_unknown), "
        "e.g. {retryable: {max_attempts: 3}}; fields as in CallRetryPolicy.",
    )

    @field_validator("retry")
    @classmethod
    def _retry_overrides_are_valid(
        cls, value: dict[str, dict[str, float | int | str]]
    ) -> dict[str, dict[str, float | int | str]]:
        from codeloop.domain.call_retries import CallRetryPolicies

        CallRetryPolicies().with_overrides(value)  # raises naming the bad key or value
        return value

    @property
    def is_validation_configured(self) -> bool:
        return bool(self.validation.test or self.validation.checks)

    @property
    def auto_merge_method(self) -> Literal["squash", "merge", "rebase"] | None:
        """How to merge the agent's pull request, or None when auto-merge is off."""
        if isinstance(self.auto_merge, AutoMergeConfig):
            return self.auto_merge.method
        return AutoMergeConfig().method if self.auto_merge else None

    def prompt_pin(self, task_type: str) -> PromptPin | None:
        pin = self.prompts.get(task_type)
        if isinstance(pin, str):
            return PromptPin(template=pin)
        return pin


class ConfigProblem(ValueError):
    """``.github/codeloop.yml`` cannot be used; ``problems`` lists what is wrong, one per line."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def parse_repo_config(text: str | None) -> RepoConfig:
    """The effective configuration for a file's text (``None``: no file, all defaults)."""
    if text is None or not text.strip():
        return RepoConfig()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigProblem([f"{CONFIG_PATH} is not valid YAML{where}"]) from None
    if data is None:
        return RepoConfig()
    if not isinstance(data, dict):
        raise ConfigProblem([f"{CONFIG_PATH} must be a mapping of keys to values"])
    try:
        return RepoConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigProblem(
            [f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}" for err in exc.errors()]
        ) from None


def json_schema() -> dict:
    schema = RepoConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://github.com/codeloop/codeloop/schemas/codeloop.schema.json"
    schema["title"] = "codeloop per-repository configuration (.github/codeloop.yml)"
    return schema


def with_stored_commands(
    config: RepoConfig, setup: list[str], test: list[str], deploy: list[str] = ()
) -> RepoConfig:
    """The one fallback rule: when the file names no setup, deploy or test commands, those stored
    for the repository (through the task API) fill in, so the prompt and the validator agree."""
    named = config.validation.setup or config.validation.test or config.validation.deploy
    if named or not test:
        return config
    validation = config.validation.model_copy(
        update={"setup": list(setup), "test": list(test), "deploy": list(deploy)}
    )
    return config.model_copy(update={"validation": validation})
