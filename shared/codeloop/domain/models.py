"""The records codeloop keeps, as pydantic models: what the data layer returns and accepts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from codeloop.domain.delivery_status import DeliveryStatus
from codeloop.domain.lifecycle import TaskStatus

# A task id as a path segment: only text PostgreSQL reads as a uuid, so any other is a 404, not a 500.
UUID_TEXT = r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}"
# Text a caller sends (a request's fields, a filter): PostgreSQL's text cannot hold NUL, so text with
# one is refused at the edge with a 4xx instead of failing in the database with a 500.
WITHOUT_NUL = r"^[^\x00]*$"
StorableText = Annotated[str, StringConstraints(pattern=WITHOUT_NUL)]


class TaskType(StrEnum):
    FEATURE = "feature"
    BUG_FIX = "bug_fix"
    REFACTOR = "refactor"
    TESTS = "tests"
    DOCS = "docs"
    FIX_FAILING_CHECKS = "fix_failing_checks"
    REVIEW_FEEDBACK = "review_feedback"
    ISSUE_TO_PR = "issue_to_pr"


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class TaskSource(StrEnum):
    COMMENT = "comment"
    LABEL = "label"
    API = "api"
    BATCH = "batch"
    SLACK = "slack"


class Record(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)


class Installation(Record):
    id: int
    account_login: str
    account_type: str = "Organization"
    permissions: dict[str, str] = Field(default_factory=dict)
    suspended_at: datetime | None = None
    deleted_at: datetime | None = None


class RepositoryRef(Record):
    """A repository as GitHub names it in a payload (installation events leave out the default branch)."""

    id: int
    full_name: str
    default_branch: str | None = None
    private: bool = False


class Repository(RepositoryRef):
    default_branch: str
    installation_id: int | None
    active: bool
    setup_commands: list[str]
    test_commands: list[str]
    deploy_commands: list[str]
    rules: dict[str, Any]
    auto_merge: bool
    iteration_budget: int


class NewTask(BaseModel):
    """What a request (command, label, API call) asks for."""

    repository_id: int
    title: str = Field(min_length=1, max_length=256)
    description: str = ""
    requirements: list[str] = Field(default_factory=list)
    acceptance_criteria: list[str] = Field(default_factory=list)
    type: TaskType = TaskType.FEATURE
    complexity: int = Field(default=5, ge=1, le=10)
    priority: Priority = Priority.MEDIUM
    source: TaskSource = TaskSource.API
    requested_by: str | None = None
    request_key: str | None = None
    issue_number: int | None = None
    comment_id: int | None = None
    base_branch: str | None = None
    pr_number: int | None = None
    pr_url: str | None = None
    head_sha: str | None = None
    parent_task_id: UUID | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class Task(Record):
    id: UUID
    repository_id: int
    title: str
    description: str
    requirements: list[Any]
    acceptance_criteria: list[Any]
    type: TaskType
    complexity: int
    priority: Priority
    status: TaskStatus
    source: TaskSource
    requested_by: str | None
    request_key: str | None
    issue_number: int | None
    comment_id: int | None
    base_branch: str | None
    branch: str | None
    pr_number: int | None
    pr_url: str | None
    head_sha: str | None
    agent_run_url: str | None
    attempt: int
    error_log: list[dict[str, Any]]
    retry_count: int
    parent_task_id: UUID | None
    workflow_execution_arn: str | None
    status_comment_id: int | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None


class WebhookDelivery(Record):
    delivery_id: str
    event: str
    action: str | None
    installation_id: int | None
    repository_id: int | None
    repository_full_name: str | None
    status: DeliveryStatus
    error: str | None
    attempts: int
    received_at: datetime
    queued_at: datetime | None
    processed_at: datetime | None
    source: str = "github"  # or "linear"


class StuckDelivery(WebhookDelivery):
    """A delivery stored but never sent, with the replay it waits to be sent for (if any)."""

    replay_id: int | None = None
    replay_new_task: bool = False


class WorkflowStep(Record):
    step: str
    attempt: int
    status: str
    error: str | None
    started_at: datetime
    finished_at: datetime | None
    duration_ms: int | None


class WorkflowExecution(Record):
    id: UUID
    task_id: UUID
    name: str
    execution_arn: str | None
    status: str
    error: str | None
    started_at: datetime
    finished_at: datetime | None
    steps: list[WorkflowStep] = Field(default_factory=list)


class AuditEntry(Record):
    entity: str
    entity_id: str
    action: str
    old_values: dict[str, Any] | None
    new_values: dict[str, Any] | None
    changed_fields: list[str]
    actor: str | None
    correlation_id: str | None
    created_at: datetime


class Scope(Record):
    """What a caller reaches: the tasks and deliveries of these installations and repositories only.

    An API key is one; a dashboard session (the repositories GitHub says its user can access) is
    another."""

    installation_ids: list[int]
    repository_ids: list[int]


class ApiKey(Scope):
    id: UUID
    name: str
    prefix: str
    # The operator's budget authority: raise or lift its installations' caps, not only lower them.
    may_raise_caps: bool = False
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class IdentityProvider(StrEnum):
    """Where people ask for work besides GitHub."""

    LINEAR = "linear"
    SLACK = "slack"


class ExternalIdentity(Record):
    """A Linear or Slack user linked to the GitHub login whose permission they act with."""

    provider: IdentityProvider
    external_id: str
    github_login: str
    linked_by: str  # "operator" (`codeloop link`) or "email" (a verified email the operator allowed)
    created_at: datetime
    updated_at: datetime
