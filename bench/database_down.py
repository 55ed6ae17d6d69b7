"""bench/database_down: how fast the HTTP front answers 503 when the database is not there.

Two absent databases: a port nothing listens on (connections refused) and a socket that accepts
and never speaks (a connect that hangs). For each, the first delivery (no pool yet) and the next
ones (the pool still trying in the background), and /health. Aim: under 2 s each
(FRONT_DB_WAIT_SECONDS, default 1 s), far under GitHub's 10 s.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid

from codeloop import settings
from codeloop.api.front import handle
from codeloop.db.pool import close_pool
from codeloop.domain.webhooks import sign
from codeloop.local.sample_events import DEV_WEBHOOK_SECRET as SECRET

ROUNDS = 3


def event(method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> dict:
    return {
        "version": "2.0",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers or {},
        "requestContext": {
            "http": {"method": method, "path": path},
            "requestId": "bench",
            "stage": "$default",
        },
        "body": body.decode() if body else None,
        "isBase64Encoded": False,
    }


def delivery() -> dict:
    body = json.dumps({"action": "created", "zen": "bench"}).encode()
    headers = {
        "content-type": "application/json",
        "x-github-event": "issue_comment",
        "x-github-delivery": str(uuid.uuid4()),
        "x-hub-signature-256": sign(body, SECRET),
    }
    return event("POST", "/webhooks/github", body, headers)


def timed(request: dict) -> tuple[int, float]:
    started = time.perf_counter()
    status = handle(request, None)["statusCode"]
    return status, time.perf_counter() - started


def measure(case: str, port: int) -> None:
    os.environ["DATABASE_URL"] = f"postgresql://codeloop@127.0.0.1:{port}/codeloop"
    settings.reset_settings()
    try:
        for round_number in range(ROUNDS):
            status, seconds = timed(delivery())
            label = "first delivery (no pool yet)" if round_number == 0 else "next delivery"
            print(f"{case:<8} {label:<30} {status}  {seconds * 1000:7.0f} ms")
        status, seconds = timed(event("GET", "/health"))
        print(f"{case:<8} {'GET /health':<30} {status}  {seconds * 1000:7.0f} ms")
    finally:
        close_pool()


def main() -> None:
    os.environ["GITHUB_WEBHOOK_SECRET"] = SECRET
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        refused_port = probe.getsockname()[1]
    measure("refused", refused_port)

    silent = socket.create_server(("127.0.0.1", 0))
    try:
        port = silent.getsockname()[1]
        # The backlog accepts the connections at the TCP level; nobody ever reads or answers.
        measure("silent", port)
    finally:
        silent.close()


if __name__ == "__main__":
    main()
