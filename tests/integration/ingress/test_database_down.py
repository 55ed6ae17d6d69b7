"""With the database down or silent, the HTTP front answers 503 at once and tells nothing of it.

Two databases that are not there: a port nothing listens on (refused at once), and a socket that
accepts and never speaks (a connect that would hang). The time taken is printed by
bench/database_down.py, not asserted here.
"""

import contextlib
import json
import socket
import threading
from collections.abc import Iterator

import pytest

from codeloop.api.front import handle
from codeloop.services.intake.receiver import DATABASE_UNAVAILABLE
from tests.conftest import receive_all
from tests.unit.ingress.payloads import SECRET, load, signed_headers


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SilentDatabase:
    """Accepts connections and never answers (a database host that hangs)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.accepted.append(connection)

    def close(self) -> None:
        """Stop accepting before the socket is closed: a thread left in accept() on a closed
        socket's number would take the connections of whatever socket is given that number next
        (in a full run, a GitHub fake's: its clients were reset and its shutdown hung)."""
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() with an error
        self.thread.join(timeout=5)
        assert not self.thread.is_alive(), "the silent database kept accepting"
        self.listener.close()
        for connection in self.accepted:
            connection.close()


@pytest.fixture(params=["refused", "silent"])
def unreachable_database(request, aws, monkeypatch) -> Iterator[str]:
    """DATABASE_URL points at a database that is not there; yields its port."""
    silent = SilentDatabase() if request.param == "silent" else None
    port = silent.port if silent else _free_port()
    monkeypatch.setenv("DATABASE_URL", f"postgresql://codeloop:hunter2@127.0.0.1:{port}/codeloop")
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", SECRET)
    yield str(port)
    if silent:
        silent.close()


def http(method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, str]:
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers or {},
        "requestContext": {
            "http": {"method": method, "path": path, "sourceIp": "127.0.0.1"},
            "requestId": "req-1",
            "stage": "$default",
        },
        "body": body.decode() if body is not None else None,
        "isBase64Encoded": False,
    }
    result = handle(event, None)
    return result["statusCode"], result["body"]


def assert_tells_nothing(text: str, port: str) -> None:
    for secret in (port, "127.0.0.1", "hunter2", "codeloop:", "connection", "timeout", "Pool", "psycopg"):
        assert secret not in text, f"{secret!r} leaked in {text}"


def test_a_delivery_gets_503_and_nothing_is_queued(unreachable_database, aws):
    body = json.dumps(load("issue_comment/created.payload.json")).encode()
    status, text = http("POST", "/webhooks/github", body, signed_headers(body, "issue_comment", "d-down"))
    assert status == 503
    assert json.loads(text) == {"error": DATABASE_UNAVAILABLE, "delivery_id": "d-down"}
    assert_tells_nothing(text, unreachable_database)
    assert receive_all(aws["EVENTS_QUEUE_URL"]) == []


def test_health_says_down_and_nothing_more(unreachable_database):
    status, text = http("GET", "/health")
    assert status == 503
    assert json.loads(text) == {"status": "down", "database": {"reachable": False}}


def test_the_task_api_answers_503_without_details(unreachable_database):
    status, text = http("GET", "/api/v1/stats", headers={"authorization": "Bearer cl_abcd_some-key"})
    assert status == 503
    assert json.loads(text) == {"error": "codeloop's database is unavailable; try again shortly"}
    assert_tells_nothing(text, unreachable_database)
