"""CloudFormation custom resources: the answer a resource's function owes the stack."""

from __future__ import annotations

import json
import urllib.request
from typing import Any, Literal


def answer_custom_resource(
    event: dict[str, Any],
    physical_resource_id: str,
    status: Literal["SUCCESS", "FAILED"],
    reason: str,
    data: dict[str, Any] | None = None,
) -> None:
    """PUT the answer to the request's presigned ``ResponseURL``; until it arrives the stack waits.

    The URL is signed for an empty Content-Type, so the request sends exactly that.
    """
    body = {
        "Status": status,
        "Reason": reason,
        "PhysicalResourceId": physical_resource_id,
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": data or {},
    }
    request = urllib.request.Request(  # noqa: S310 - CloudFormation's own https URL
        event["ResponseURL"], data=json.dumps(body).encode(), method="PUT", headers={"Content-Type": ""}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        response.read()
