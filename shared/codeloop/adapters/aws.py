"""AWS clients, created at first use and reused across warm invocations.

They are boto3's clients built from botocore's session directly: the same API calls, without
importing boto3's resource layer and s3transfer (~150 ms of a cold start).
``AWS_ENDPOINT_URL`` (a local AWS emulation) is honoured; on AWS it is unset.
"""

from __future__ import annotations

import functools
from typing import Any

from codeloop.settings import get_settings


@functools.cache
def client(service: str) -> Any:
    import boto3  # ~300 ms: only the code paths that talk to AWS pay for it

    settings = get_settings()
    return boto3.client(
        service, endpoint_url=settings.aws_endpoint_url or None, region_name=settings.aws_region
    )


def reset_clients() -> None:
    client.cache_clear()
