"""A real HTTP server on 127.0.0.1 that records every call and can be told to misbehave.

Fakes of outside services subclass ``RecordingServer`` and implement ``route``. Tests then
assert on ``calls`` (method, path, query, headers, JSON body) and queue failures for the next
calls with ``fail_next``: 429 with Retry-After, 402, 5xx, a hang past the client's timeout, or
a dropped connection.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class RecordedCall:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: Any  # parsed JSON, or None


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Failure:
    """What to do instead of answering. ``kind``: status, hang, drop, or after_handling_hang."""

    kind: str
    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class RecordingHandler(BaseHTTPRequestHandler):
    """Records each request, plays a queued ``Failure`` if there is one, else ``answer``s it.

    Subclasses change how a body is read and recorded (``read_body``, ``recorded_body``), how a
    request is answered (``answer``) and how an injected status is sent (``send_failure``).
    """

    fake: RecordingServer
    protocol_version = "HTTP/1.1"
    # One buffered write per response, flushed at its end, and no Nagle delay: otherwise
    # headers and body go out as two segments and delayed ACKs add ~40 ms per call.
    wbufsize = -1
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _serve(self) -> None:
        fake = self.fake
        parts = urlsplit(self.path)
        raw = self.read_body()
        call = RecordedCall(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self.recorded_body(raw),
        )
        with fake._lock:
            fake.calls.append(call)
        failure = fake._take_failure()
        if failure is None:
            self.answer(call, raw)
        elif failure.kind == "status":
            self.send_failure(failure)
        elif failure.kind == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif failure.kind in ("hang", "after_handling_hang"):
            if failure.kind == "after_handling_hang":
                fake.route(call)
            fake._stopping.wait(fake.hang_seconds)
            self.close_connection = True
        else:
            raise ValueError(f"unknown failure kind {failure.kind!r}")

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def recorded_body(self, raw: bytes) -> Any:
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw.decode(errors="replace")

    def answer(self, call: RecordedCall, raw: bytes) -> None:
        self._reply(self.fake.route(call))

    def send_failure(self, failure: Failure) -> None:
        self._reply(Reply(failure.status, failure.body or {"message": "injected"}, failure.headers))

    def _reply(self, reply: Reply) -> None:
        payload = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


class RecordingServer:
    handler: type[RecordingHandler] = RecordingHandler  # subclasses answer in their own way

    def __init__(self, hang_seconds: float = 10.0):
        self.calls: list[RecordedCall] = []
        self.hang_seconds = hang_seconds
        self._failures: list[Failure] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> RecordingServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases hanging handlers
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting ------------------------------------------------------------------------------

    def fail_next(
        self,
        count: int,
        kind: str,
        *,
        status: int = 500,
        body: Any = None,
        retry_after: str | None = None,
    ) -> None:
        """Misbehave on the next ``count`` calls.

        kind: "status" (answer ``status``; a 429 carries ``retry_after`` if given), "hang"
        (answer nothing until the client gives up), "drop" (close the connection unanswered),
        "after_handling_hang" (do the work, e.g. create the run, then hang).
        """
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        with self._lock:
            self._failures.extend([Failure(kind, status, body, headers)] * count)

    def recover(self) -> None:
        """Forget the misbehaviour still queued: the service is back."""
        with self._lock:
            self._failures.clear()

    def calls_to(self, method: str, path: str) -> list[RecordedCall]:
        return [call for call in self.calls if call.method == method and call.path == path]

    def route(self, call: RecordedCall) -> Reply:
        raise NotImplementedError

    # -- serving --------------------------------------------------------------------------------

    def _take_failure(self) -> Failure | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    def _handler_class(self) -> type[RecordingHandler]:
        return type("Handler", (self.handler,), {"fake": self})
