"""The task API and ``/health``, as a Powertools HTTP resolver.

Requests are validated by the same pydantic models that generate the OpenAPI document served at
``/api/v1/openapi.json``. Every ``/api/v1`` route but the document needs an API key
(``Authorization: Bearer <key>`` or ``X-Api-Key``), created with ``codeloop apikey create``, and
reaches only the tasks of the key's installations and repositories: any other task is a 404,
as if it did not exist.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

import psycopg
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import BaseModel, ConfigDict, Field

from codeloop.api.auth import authenticate
from codeloop.api.budgets import router as budgets_router
from codeloop.api.deliveries import router as deliveries_router
from codeloop.api.health import health
from codeloop.api.linear import router as linear_router
from codeloop.api.stats import router as stats_router
from codeloop.domain.api_keys import reaches
from codeloop.domain.models import (
    UUID_TEXT,
    ApiKey,
    NewTask,
    Priority,
    Repository,
    StorableText,
    TaskSource,
    TaskType,
)
from codeloop.observability import logger
from codeloop.settings import SettingsError

app = APIGatewayHttpResolver(enable_validation=True)
app.include_router(stats_router)
app.include_router(deliveries_router)
app.include_router(linear_router)
app.include_router(budgets_router)

UUID_PATTERN = f"^{UUID_TEXT}$"


class TaskRequest(BaseModel):
    """A task for a repository the App is installed on."""

    model_config = ConfigDict(extra="forbid")

    repository: str = Field(pattern=r"^[\w.-]+/[\w.-]+$", description="owner/name")
    title: StorableText = Field(min_length=1, max_length=256)
    description: StorableText = Field(default="", max_length=65_535)
    requirements: list[StorableText] = Field(default_factory=list, max_length=100)
    acceptance_criteria: list[StorableText] = Field(default_factory=list, max_length=100)
    type: TaskType = TaskType.FEATURE
    complexity: int = Field(default=5, ge=1, le=10)
    priority: Priority = Priority.MEDIUM
    base_branch: StorableText | None = Field(default=None, max_length=255)


class BatchRequest(BaseModel):
    """Tasks run by the batch machine: by priority (then as given), at most max_concurrency at once."""

    model_config = ConfigDict(extra="forbid")

    tasks: list[TaskRequest] = Field(min_length=1, max_length=100)
    max_concurrency: int = Field(default=3, ge=1, le=20)
    tolerated_failure_percentage: int = Field(
        default=20, ge=0, le=100, description="the batch fails when more of its tasks fail"
    )


class ErrorBody(BaseModel):
    error: str


def _json(status: int, body: Any) -> Response[Any]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def _error(status: int, message: str) -> Response[Any]:
    return _json(status, {"error": message})


def _key() -> ApiKey | Response[Any]:
    return authenticate(app.current_event)


@app.get("/health")
def get_health() -> Response[Any]:
    status, body = health()
    return _json(status, body)


@app.get("/api/v1/openapi.json")
def get_openapi() -> Response[Any]:
    return _json(
        200,
        app.get_openapi_schema(title="codeloop task API", version="1").model_dump(
            mode="json", by_alias=True, exclude_none=True
        ),
    )


class Refused(ValueError):
    """A task request the key may not make: ``status`` and a message for the caller."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _new_tasks(requests: list[TaskRequest], key: ApiKey, source: TaskSource) -> list[NewTask]:
    """The tasks to create, once every repository is in the key's scope and has the App.

    A repository outside the scope and one codeloop does not know get the same 403, so a key
    cannot learn which repositories other installations have.
    """
    from codeloop.db import store
    from codeloop.db.pool import transaction

    with transaction() as conn:
        repositories = {
            name: store.get_repository_by_name(conn, name) for name in {r.repository for r in requests}
        }
    for name, repository in sorted(repositories.items()):
        if repository is None or not reaches(key, repository):
            raise Refused(403, f"this API key may not create tasks on {name}: it is outside the key's scope")
        if not repository.active:
            raise Refused(422, f"the codeloop App is not installed on {name}")
    _refuse_over_cap(r.installation_id for r in repositories.values() if r and r.installation_id)
    return [
        NewTask(
            repository_id=repositories[request.repository].id,
            source=source,
            requested_by=f"api:{key.name}",
            **request.model_dump(exclude={"repository"}),
        )
        for request in requests
    ]


def _refuse_over_cap(installation_ids: Iterable[int]) -> None:
    """A 402, in the polite words of the comment, for the first installation at its spending cap."""
    from codeloop.domain.costs import refusal_text
    from codeloop.services.costs import budgets

    for installation_id in sorted(set(installation_ids)):
        if (over := budgets.installation_refusal(installation_id)) is not None:
            raise Refused(402, refusal_text(over))


def _reaches_task(key: ApiKey, task_id: str) -> Repository | None:
    """The task's repository when the task exists and the repository is in the key's scope (else a 404)."""
    from codeloop.db import store
    from codeloop.db.pool import transaction

    with transaction() as conn:
        task = store.get_task(conn, task_id)
        repository = store.get_repository(conn, task.repository_id) if task else None
    return repository if repository is not None and reaches(key, repository) else None


KEY_RESPONSES: dict[int | str, Any] = {
    401: {"description": "no live API key"},
    429: {"description": "the key's request limit; see Retry-After"},
}


@app.post(
    "/api/v1/tasks",
    responses={
        201: {"description": "created and started"},
        402: {"description": "the installation reached its spending cap (per day or month)"},
        403: {"description": "the repository is outside the key's scope"},
        422: {"description": "invalid request, or the App is not installed on the repository"},
        **KEY_RESPONSES,
    },
)
def post_task(request: TaskRequest) -> Response[Any]:
    from codeloop.services.tasks import actions as tasks

    key = _key()
    if isinstance(key, Response):
        return key
    try:
        (new,) = _new_tasks([request], key, TaskSource.API)
    except Refused as refused:
        return _error(refused.status, str(refused))
    task = tasks.create_and_start(
        new, actor=f"api:{key.name}", correlation_id=app.current_event.request_context.request_id
    )
    return _json(201, {"task": task.model_dump(mode="json")})


@app.post(
    "/api/v1/tasks/batch",
    responses={
        202: {"description": "created; the batch machine starts them in turn"},
        402: {"description": "an installation reached its spending cap; nothing is created"},
        403: {"description": "a repository is outside the key's scope; nothing is created"},
        422: {"description": "invalid request, or the App is not installed on a repository"},
        **KEY_RESPONSES,
    },
)
def post_batch(request: BatchRequest) -> Response[Any]:
    from codeloop.services.tasks import actions as tasks

    key = _key()
    if isinstance(key, Response):
        return key
    try:
        new = _new_tasks(request.tasks, key, TaskSource.BATCH)
    except Refused as refused:
        return _error(refused.status, str(refused))
    batch = tasks.create_batch(
        new,
        max_concurrency=request.max_concurrency,
        tolerated_failure_percentage=request.tolerated_failure_percentage,
        actor=f"api:{key.name}",
        correlation_id=app.current_event.request_context.request_id,
    )
    return _json(202, batch.model_dump(mode="json"))


TASK_RESPONSES: dict[int | str, Any] = {
    404: {"description": "no such task, or one outside the key's scope (its installations and repositories)"},
    **KEY_RESPONSES,
}


@app.get(
    "/api/v1/tasks/<task_id>", responses={200: {"description": "the task and its history"}, **TASK_RESPONSES}
)
def get_task(task_id: Annotated[str, Path(pattern=UUID_PATTERN)]) -> Response[Any]:
    from codeloop.services.tasks import actions as tasks

    key = _key()
    if isinstance(key, Response):
        return key
    described = tasks.describe(task_id) if _reaches_task(key, task_id) else None
    if described is None:
        return _error(404, f"no task {task_id}")
    return _json(200, described)


def _act(task_id: str, action: str) -> Response[Any]:
    from codeloop.db.store import NotFound
    from codeloop.services.tasks import actions as tasks

    key = _key()
    if isinstance(key, Response):
        return key
    repository = _reaches_task(key, task_id)
    if repository is None:
        return _error(404, f"no task {task_id}")
    try:
        if action == "retry" and repository.installation_id is not None:
            _refuse_over_cap([repository.installation_id])
        task = getattr(tasks, action)(task_id, actor=f"api:{key.name}")
    except Refused as refused:
        return _error(refused.status, str(refused))
    except NotFound:
        return _error(404, f"no task {task_id}")
    except tasks.TaskConflict as conflict:
        return _error(409, str(conflict))
    return _json(200, {"task": task.model_dump(mode="json")})


ACTION_RESPONSES: dict[int | str, Any] = {
    409: {"description": "the task's state does not allow it"},
    **TASK_RESPONSES,
}


@app.post(
    "/api/v1/tasks/<task_id>/retry",
    responses={
        200: {"description": "a new attempt"},
        402: {"description": "the installation reached its spending cap"},
        **ACTION_RESPONSES,
    },
)
def post_retry(task_id: Annotated[str, Path(pattern=UUID_PATTERN)]) -> Response[Any]:
    return _act(task_id, "retry")


@app.post("/api/v1/tasks/<task_id>/cancel", responses={200: {"description": "cancelled"}, **ACTION_RESPONSES})
def post_cancel(task_id: Annotated[str, Path(pattern=UUID_PATTERN)]) -> Response[Any]:
    return _act(task_id, "cancel")


@app.exception_handler(psycopg.OperationalError)
def _database_unavailable(error: psycopg.OperationalError) -> Response[Any]:
    logger.error("task API: database unavailable", extra={"error": type(error).__name__})
    return _error(503, "codeloop's database is unavailable; try again shortly")


@app.exception_handler(SettingsError)
def _not_configured(error: SettingsError) -> Response[Any]:
    return _error(503, f"codeloop is not configured: {error}")
