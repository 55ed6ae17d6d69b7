"""The task API and ``/health``, as a Powertools HTTP resolver.

Requests are validated by the same pydantic models that generate the OpenAPI document served at
``/api/v1/openapi.json``. Every ``/api/v1`` route but the document needs an API key
(``Authorization: Bearer <key>`` or ``X-Api-Key``), created with ``codeloop apikey create``.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import BaseModel, ConfigDict, Field

from codeloop.api.auth import require_caller, unauthorized
from codeloop.api.health import health
from codeloop.api.stats import router as stats_router
from codeloop.domain.models import NewTask, Priority, TaskSource, TaskType
from codeloop.settings import SettingsError

app = APIGatewayHttpResolver(enable_validation=True)
app.include_router(stats_router)
app.enable_swagger(path="/api/v1/docs", title="codeloop task API", version="1", openapi_version="3.1.0")

UUID_PATTERN = r"^[0-9a-fA-F-]{36}$"


class TaskRequest(BaseModel):
    """A task for a repository the App is installed on."""

    model_config = ConfigDict(extra="forbid")

    repository: str = Field(pattern=r"^[\w.-]+/[\w.-]+$", description="owner/name")
    title: str = Field(min_length=1, max_length=256)
    description: str = Field(default="", max_length=65_535)
    requirements: list[str] = Field(default_factory=list, max_length=100)
    acceptance_criteria: list[str] = Field(default_factory=list, max_length=100)
    type: TaskType = TaskType.FEATURE
    complexity: int = Field(default=5, ge=1, le=10)
    priority: Priority = Priority.MEDIUM
    base_branch: str | None = Field(default=None, max_length=255)


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


def _caller() -> str | None:
    return require_caller(app.current_event)


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


class NotInstalled(ValueError):
    """A requested repository does not have the App (or is no longer active)."""


def _new_tasks(requests: list[TaskRequest], caller: str, source: TaskSource) -> list[NewTask]:
    from codeloop.db import store
    from codeloop.db.pool import transaction

    with transaction() as conn:
        repositories = {
            name: store.get_repository_by_name(conn, name) for name in {r.repository for r in requests}
        }
    for name, repository in repositories.items():
        if repository is None or not repository.active:
            raise NotInstalled(f"the codeloop App is not installed on {name}")
    return [
        NewTask(
            repository_id=repositories[request.repository].id,
            source=source,
            requested_by=f"api:{caller}",
            **request.model_dump(exclude={"repository"}),
        )
        for request in requests
    ]


@app.post("/api/v1/tasks", responses={201: {"description": "created and started"}, 401: {}, 422: {}})
def post_task(request: TaskRequest) -> Response[Any]:
    from codeloop.services import tasks

    caller = _caller()
    if caller is None:
        return unauthorized()
    try:
        (new,) = _new_tasks([request], caller, TaskSource.API)
    except NotInstalled as problem:
        return _error(422, str(problem))
    task = tasks.create_and_start(
        new, actor=f"api:{caller}", correlation_id=app.current_event.request_context.request_id
    )
    return _json(201, {"task": task.model_dump(mode="json")})


@app.post(
    "/api/v1/tasks/batch",
    responses={202: {"description": "created; the batch machine starts them in turn"}, 401: {}, 422: {}},
)
def post_batch(request: BatchRequest) -> Response[Any]:
    from codeloop.services import tasks

    caller = _caller()
    if caller is None:
        return unauthorized()
    try:
        new = _new_tasks(request.tasks, caller, TaskSource.BATCH)
    except NotInstalled as problem:
        return _error(422, str(problem))
    batch = tasks.create_batch(
        new,
        max_concurrency=request.max_concurrency,
        tolerated_failure_percentage=request.tolerated_failure_percentage,
        actor=f"api:{caller}",
        correlation_id=app.current_event.request_context.request_id,
    )
    return _json(202, batch.model_dump(mode="json"))


@app.get("/api/v1/tasks/<task_id>")
def get_task(task_id: Annotated[str, Path(pattern=UUID_PATTERN)]) -> Response[Any]:
    from codeloop.services import tasks

    if _caller() is None:
        return unauthorized()
    described = tasks.describe(task_id)
    if described is None:
        return _error(404, f"no task {task_id}")
    return _json(200, described)


def _act(task_id: str, action: str) -> Response[Any]:
    from codeloop.db.store import NotFound
    from codeloop.services import tasks

    caller = _caller()
    if caller is None:
        return unauthorized()
    try:
        task = getattr(tasks, action)(task_id, actor=f"api:{caller}")
    except NotFound:
        return _error(404, f"no task {task_id}")
    except tasks.TaskConflict as conflict:
        return _error(409, str(conflict))
    return _json(200, {"task": task.model_dump(mode="json")})


@app.post("/api/v1/tasks/<task_id>/retry")
def post_retry(task_id: Annotated[str, Path(pattern=UUID_PATTERN)]) -> Response[Any]:
    return _act(task_id, "retry")


@app.post("/api/v1/tasks/<task_id>/cancel")
def post_cancel(task_id: Annotated[str, Path(pattern=UUID_PATTERN)]) -> Response[Any]:
    return _act(task_id, "cancel")


@app.exception_handler(SettingsError)
def _not_configured(error: SettingsError) -> Response[Any]:
    return _error(503, f"codeloop is not configured: {error}")
