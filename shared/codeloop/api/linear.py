"""``/api/v1/linear/mappings``: which repository a Linear team (or project) asks work of, set through
the task API as ``codeloop linear map`` sets it. A key maps only to repositories it reaches, and
sees and removes only mappings to them; any other is a 403 or 404 as for tasks. A team with a
mapping (of the whole team or of a project) outside the key's reach is another's: a key can
neither replace it nor add a project mapping, which would win over the team's.

A Powertools router; the task API's resolver includes it.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel, ConfigDict, Field

from codeloop.api.auth import authenticate
from codeloop.db import linear_store, store
from codeloop.db.pool import transaction
from codeloop.domain.api_keys import reaches
from codeloop.domain.linear import PROJECT_PATTERN, TEAM_KEY_PATTERN
from codeloop.domain.models import ApiKey, StorableText

router = Router()
RESPONSES: dict[int | str, Any] = {
    401: {"description": "no live API key"},
    429: {"description": "the key's request limit; see Retry-After"},
}


class MappingRequest(BaseModel):
    """A Linear team (optionally one project of it) and the repository its issues ask work of."""

    model_config = ConfigDict(extra="forbid")

    team: str = Field(pattern=TEAM_KEY_PATTERN, description="the Linear team's key, e.g. ENG")
    project: str = Field(
        default="", pattern=PROJECT_PATTERN, description="a project id or name; empty: the team"
    )
    repository: str = Field(pattern=r"^[\w.-]+/[\w.-]+$", description="owner/name")
    done_state: StorableText | None = Field(
        default=None,
        max_length=100,
        description="the workflow state an issue moves to when its task ends green",
    )


def _json(status: int, body: Any) -> Response[Any]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def _reachable(conn: Any, key: ApiKey, full_name: str) -> bool:
    repository = store.get_repository_by_name(conn, full_name)
    return repository is not None and reaches(key, repository)


@router.put(
    "/api/v1/linear/mappings",
    summary="Map a Linear team (or project) to a repository",
    responses={
        200: {"description": "the mapping"},
        403: {"description": "the repository, or a mapping of the team, is outside the key's scope"},
        **RESPONSES,
    },
)
def put_mapping(request: MappingRequest) -> Response[Any]:
    key = authenticate(router.current_event)
    if isinstance(key, Response):
        return key
    with transaction(actor=f"api:{key.name}") as conn:
        if not _reachable(conn, key, request.repository):
            return _json(
                403,
                {"error": f"this API key may not map to {request.repository}: it is outside the key's scope"},
            )
        # A project's mapping wins over its team's: a key may touch a team only while none of its
        # mappings (whole team or project) leads outside the key's reach.
        team = request.team.upper()
        if any(
            m.team_key == team and not _reachable(conn, key, m.repository_full_name)
            for m in linear_store.mappings(conn)
        ):
            return _json(403, {"error": f"Linear team {team} is mapped to a repository outside the key's scope"})
        mapping = linear_store.map_team(
            conn, request.team, request.repository, project=request.project, done_state=request.done_state
        )
    return _json(200, {"mapping": mapping.model_dump(mode="json")})


@router.get(
    "/api/v1/linear/mappings",
    summary="The mappings to repositories the key reaches",
    responses={200: {"description": "the mappings"}, **RESPONSES},
)
def get_mappings() -> Response[Any]:
    key = authenticate(router.current_event)
    if isinstance(key, Response):
        return key
    with transaction() as conn:
        shown = [m for m in linear_store.mappings(conn) if _reachable(conn, key, m.repository_full_name)]
    return _json(200, {"mappings": [m.model_dump(mode="json") for m in shown]})


@router.delete(
    "/api/v1/linear/mappings/<team>",
    summary="Remove a team's (or, with ?project=, a project's) mapping",
    responses={
        200: {"description": "removed"},
        404: {"description": "no such mapping the key reaches"},
        **RESPONSES,
    },
)
def delete_mapping(
    team: Annotated[str, Path(pattern=TEAM_KEY_PATTERN)],
    project: Annotated[str, Query(pattern=PROJECT_PATTERN)] = "",
) -> Response[Any]:
    key = authenticate(router.current_event)
    if isinstance(key, Response):
        return key
    with transaction(actor=f"api:{key.name}") as conn:
        known = [
            m for m in linear_store.mappings(conn) if m.team_key == team.upper() and m.project == project
        ]
        if not known or not _reachable(conn, key, known[0].repository_full_name):
            return _json(404, {"error": f"no mapping of Linear team {team.upper()} that this key reaches"})
        linear_store.unmap_team(conn, team, project=project)
    return _json(200, {"removed": known[0].model_dump(mode="json")})
