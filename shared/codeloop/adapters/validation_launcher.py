"""Start the validation runner with a prepared request: the only way the trusted side reaches it.

On AWS: an asynchronous Lambda ``Invoke`` of the runner function with ``TenantId`` = the
installation, on a function in tenant isolation mode (``TenancyConfig: PER_TENANT``), so an
execution environment never serves two installations. Locally (``make dev``, tests): a message on
the runner queue, which the local stack feeds to the runner handler in a process of its own.
"""

from __future__ import annotations

import json
from typing import Any

from codeloop.domain.validation_request import ValidationRequest
from codeloop.settings import get_settings


def invoke_arguments(function: str, request: ValidationRequest) -> dict[str, Any]:
    """The Lambda ``Invoke`` call for ``request``: fire and forget, one tenant per installation."""
    return {
        "FunctionName": function,
        "InvocationType": "Event",
        "TenantId": str(request.job.installation_id),
        "Payload": request.model_dump_json().encode(),
    }


def start(request: ValidationRequest) -> None:
    from codeloop.adapters import queues
    from codeloop.adapters.aws import client

    settings = get_settings()
    if settings.validation_runner_function:
        client("lambda").invoke(**invoke_arguments(settings.validation_runner_function, request))
        return
    queues.send(str(settings.require("validation_runner_queue_url")), json.loads(request.model_dump_json()))
