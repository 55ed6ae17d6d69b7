"""A local HTTP port that turns each request into an API Gateway HTTP API (payload 2.0) event
and hands it to the same handler the Lambda runs."""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from codeloop.observability import logger

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
MAX_BODY = 26 * 1024 * 1024  # a little over GitHub's 25 MB cap, so the handler gives the 413


def to_event(method: str, target: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    parts = urlsplit(target)
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.path,
        "rawQueryString": parts.query,
        "headers": {key.lower(): value for key, value in headers.items()},
        "requestContext": {
            "http": {"method": method, "path": parts.path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": f"local-{time.time_ns()}",
            "stage": "$default",
            "timeEpoch": int(time.time() * 1000),
        },
        "body": base64.b64encode(body).decode() if body else None,
        "isBase64Encoded": bool(body),
    }
    if parts.query:
        event["queryStringParameters"] = query_parameters(parts.query)
    return event


def query_parameters(query: str) -> dict[str, str]:
    """The query as API Gateway hands it to Lambda: decoded, a repeated name's values joined by
    commas (Powertools' resolver reads these, not ``rawQueryString``)."""
    values: dict[str, list[str]] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        values.setdefault(name, []).append(value)
    return {name: ",".join(found) for name, found in values.items()}


def serve(
    handler: LambdaHandler, host: str = "127.0.0.1", port: int = 3000, *, shared_port: bool = False
) -> ThreadingHTTPServer:
    """Start serving in a background thread; ``server.shutdown()`` stops it.

    With ``shared_port``, several processes listen on the same port (``SO_REUSEPORT``) and the
    kernel spreads connections between them, as API Gateway spreads requests over Lambda
    execution environments."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body as one buffered write, without Nagle's delay: otherwise a delayed ACK
        # holds every answer ~40 ms (measured by bench/dashboard.py).
        wbufsize = -1
        disable_nagle_algorithm = True

        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if length > MAX_BODY:
                self.send_error(413, "request body too large")
                return
            body = self.rfile.read(length) if length else b""
            try:
                result = handler(to_event(self.command, self.path, dict(self.headers.items()), body), None)
            except Exception:  # as Lambda would: the invocation failed, the caller sees a 500
                logger.exception("handler failed")
                result = {"statusCode": 500, "body": '{"error": "internal error"}'}
            payload = result.get("body") or ""
            data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
            self.send_response(result.get("statusCode", 200))
            for key, value in (result.get("headers") or {}).items():
                self.send_header(key, value)
            for cookie in result.get("cookies") or []:
                self.send_header("set-cookie", cookie)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:  # the stack logs through Powertools
            pass

    class Server(ThreadingHTTPServer):
        def server_bind(self) -> None:
            if shared_port:
                self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            super().server_bind()

    server = Server((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="codeloop-http", daemon=True).start()
    return server
