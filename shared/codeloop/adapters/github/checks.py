"""Check runs (created, updated, annotations 50 at a time) and a commit's check runs and suites."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from codeloop.adapters.github.client import (
    CHECKS_READ,
    CHECKS_WRITE,
    Permissions,
    _pages,
    _repo_path,
    _repo_request,
    _trim,
    _url_segment,
)
from codeloop.adapters.github.models import (
    Annotation,
    CheckRun,
    CheckRunAction,
    CheckRunOutput,
    CheckSuite,
)

ANNOTATIONS_PER_REQUEST = 50
MAX_ACTIONS = 3

M = TypeVar("M", bound=BaseModel)


def _output_payload(output: CheckRunOutput, annotations: Sequence[Annotation]) -> dict[str, Any]:
    payload: dict[str, Any] = {"title": _trim(output.title, 255), "summary": _trim(output.summary)}
    if output.text is not None:
        payload["text"] = _trim(output.text)
    if annotations:
        payload["annotations"] = [
            annotation.model_copy(
                update={
                    "message": _trim(annotation.message),
                    "raw_details": None if annotation.raw_details is None else _trim(annotation.raw_details),
                    "title": None if annotation.title is None else _trim(annotation.title, 255),
                }
            ).model_dump(exclude_none=True)
            for annotation in annotations
        ]
    return payload


def _annotation_batches(output: CheckRunOutput | None) -> list[list[Annotation]]:
    annotations = output.annotations if output else []
    return [
        annotations[start : start + ANNOTATIONS_PER_REQUEST]
        for start in range(0, len(annotations), ANNOTATIONS_PER_REQUEST)
    ] or [[]]


def _check_run_fields(
    status: str | None,
    conclusion: str | None,
    actions: Sequence[CheckRunAction] | None,
    details_url: str | None,
    external_id: str | None,
    started_at: datetime | None,
    completed_at: datetime | None,
) -> dict[str, Any]:
    if actions is not None and len(actions) > MAX_ACTIONS:
        raise ValueError(f"a check run takes at most {MAX_ACTIONS} actions, got {len(actions)}")
    fields: dict[str, Any] = {
        "status": status,
        "conclusion": conclusion,
        "details_url": details_url,
        "external_id": external_id,
        "started_at": started_at.isoformat() if started_at else None,
        "completed_at": completed_at.isoformat() if completed_at else None,
    }
    body = {key: value for key, value in fields.items() if value is not None}
    if actions is not None:
        body["actions"] = [action.model_dump() for action in actions]
    return body


def create_check_run(
    installation_id: int,
    repo: str,
    *,
    name: str,
    head_sha: str,
    status: Literal["queued", "in_progress", "completed"] = "queued",
    conclusion: str | None = None,
    output: CheckRunOutput | None = None,
    actions: Sequence[CheckRunAction] | None = None,
    details_url: str | None = None,
    external_id: str | None = None,
    started_at: datetime | None = None,
    completed_at: datetime | None = None,
    permissions: Permissions = CHECKS_WRITE,
) -> CheckRun:
    """Create a check run; annotations beyond the first 50 follow in PATCHes of 50."""
    body = {"name": name, "head_sha": head_sha} | _check_run_fields(
        status, conclusion, actions, details_url, external_id, started_at, completed_at
    )
    first, *rest = _annotation_batches(output)
    if output is not None:
        body["output"] = _output_payload(output, first)
    response = _repo_request(
        "POST", installation_id, repo, permissions, _repo_path(repo, "/check-runs"), json=body
    )
    run = CheckRun.model_validate(response.json())
    for batch in rest:
        run = _patch_check_run(
            installation_id, repo, run.id, {"output": _output_payload(output, batch)}, permissions
        )  # type: ignore[arg-type]
    return run


def update_check_run(
    installation_id: int,
    repo: str,
    check_run_id: int,
    *,
    name: str | None = None,
    status: Literal["queued", "in_progress", "completed"] | None = None,
    conclusion: str | None = None,
    output: CheckRunOutput | None = None,
    actions: Sequence[CheckRunAction] | None = None,
    details_url: str | None = None,
    external_id: str | None = None,
    started_at: datetime | None = None,
    completed_at: datetime | None = None,
    permissions: Permissions = CHECKS_WRITE,
) -> CheckRun:
    """Update a check run; annotations go 50 per PATCH (GitHub appends them)."""
    body = _check_run_fields(status, conclusion, actions, details_url, external_id, started_at, completed_at)
    if name is not None:
        body["name"] = name
    run: CheckRun | None = None
    for batch in _annotation_batches(output):
        if output is not None:
            body["output"] = _output_payload(output, batch)
        run = _patch_check_run(installation_id, repo, check_run_id, body, permissions)
        body = {}
    assert run is not None
    return run


def _patch_check_run(
    installation_id: int, repo: str, check_run_id: int, body: dict[str, Any], permissions: Permissions
) -> CheckRun:
    response = _repo_request(
        "PATCH",
        installation_id,
        repo,
        permissions,
        _repo_path(repo, f"/check-runs/{check_run_id}"),
        json=body,
    )
    return CheckRun.model_validate(response.json())


def list_check_runs(
    installation_id: int, repo: str, ref: str, *, permissions: Permissions = CHECKS_READ
) -> list[CheckRun]:
    return _list_for_commit(installation_id, repo, ref, "check-runs", CheckRun, permissions)


def list_check_suites(
    installation_id: int, repo: str, ref: str, *, permissions: Permissions = CHECKS_READ
) -> list[CheckSuite]:
    return _list_for_commit(installation_id, repo, ref, "check-suites", CheckSuite, permissions)


def _list_for_commit(
    installation_id: int, repo: str, ref: str, kind: str, model: type[M], permissions: Permissions
) -> list[M]:
    """Every item of ``/commits/{ref}/{kind}`` (check runs or suites), across its pages."""
    path = _repo_path(repo, f"/commits/{_url_segment(ref)}/{kind}")
    items_key = kind.replace("-", "_")
    return [
        model.model_validate(item)
        for page in _pages(installation_id, repo, permissions, path, items_key=items_key)
        for item in page
    ]
