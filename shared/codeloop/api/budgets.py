"""An installation's spending caps: ``GET`` and ``PUT /api/v1/installations/{id}/budget``.

The caps (USD per UTC day and per UTC month) default to the settings
``INSTALLATION_MAX_USD_PER_DAY`` / ``_PER_MONTH``; a ``PUT`` overrides them for one installation:
a number, ``"unlimited"`` (no cap there, whatever the setting), or null / absent (back to the
setting). Only a key scoped to the whole installation reaches it; any other installation is a
404. The caps bound what the installation spends of the operator's accounts, so a key may only
lower them (403 otherwise), unless the operator made it with ``--may-raise-caps``; the operator
also raises them with ``codeloop budget set``. A Powertools router; the task API includes it.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from codeloop.api.auth import authenticate
from codeloop.domain.costs import CapsOverride
from codeloop.domain.models import ApiKey

router = Router()

PATH = "/api/v1/installations/<installation_id>/budget"
RESPONSES: dict[int | str, Any] = {
    401: {"description": "no live API key"},
    404: {"description": "an installation outside the key's scope"},
    429: {"description": "the key's request limit; see Retry-After"},
}


class BudgetRequest(CapsOverride):
    """The installation's caps: each a number of USD, "unlimited" (no cap for this installation,
    whatever the setting), or null / absent (the setting's cap)."""


def _json(status: int, body: Any) -> Response[Any]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def _scoped_key(installation_id: int) -> ApiKey | Response[Any]:
    key = authenticate(router.current_event)
    if isinstance(key, Response):
        return key
    if installation_id not in key.installation_ids:
        return _json(404, {"error": f"no installation {installation_id}"})
    return key


@router.get(PATH, summary="The installation's spending caps and what it spent today and this month",
            responses={200: {"description": "caps and spend"}, **RESPONSES})  # fmt: skip
def get_budget(installation_id: Annotated[int, Path(ge=1)]) -> Response[Any]:
    from codeloop.services.costs import budgets

    key = _scoped_key(installation_id)
    if isinstance(key, Response):
        return key
    return _json(200, budgets.installation_budget(installation_id))


@router.put(PATH, summary='Set the installation\'s spending caps (null: the setting\'s; "unlimited": none)',
            responses={200: {"description": "the caps now, and spend"},
                       403: {"description": "a raise or a lift, by a key not made with --may-raise-caps"},
                       **RESPONSES})  # fmt: skip
def put_budget(installation_id: Annotated[int, Path(ge=1)], request: BudgetRequest) -> Response[Any]:
    from codeloop.services.costs import budgets

    key = _scoped_key(installation_id)
    if isinstance(key, Response):
        return key
    try:
        caps = budgets.set_installation_budget(installation_id, request, f"api:{key.name}", may_raise=key.may_raise_caps)
        return _json(200, caps)
    except budgets.CapRaised as refused:
        return _json(403, {"error": str(refused)})
