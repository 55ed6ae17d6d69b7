"""The task API (and ``/health``) as a Powertools HTTP resolver; its OpenAPI document comes from the same models."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types

from codeloop.api.health import health

app = APIGatewayHttpResolver(enable_validation=True)


def _json(status: int, body: dict) -> Response[dict]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


@app.get("/health")
def get_health() -> Response[dict]:
    status, body = health()
    return _json(status, body)
