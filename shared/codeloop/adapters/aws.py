"""AWS clients, created at first use and reused across warm invocations.

They are the clients boto3 hands out, built from botocore's session directly: the same API calls,
without importing boto3, whose ``compat`` module imports s3transfer (~150 ms of a cold start).
``AWS_ENDPOINT_URL`` (a local AWS emulation) is honoured; on AWS it is unset.
"""

from __future__ import annotations

import functools
from typing import Any

from codeloop.settings import get_settings


@functools.cache
def _session() -> Any:
    import botocore.session

    return botocore.session.get_session()


@functools.cache
def client(service: str) -> Any:
    settings = get_settings()
    return _session().create_client(
        service, endpoint_url=settings.aws_endpoint_url or None, region_name=settings.aws_region
    )


def reset_clients() -> None:
    """Forget the clients and the session (its credentials): tests, the local stack, a SnapStart restore."""
    client.cache_clear()
    _session.cache_clear()
