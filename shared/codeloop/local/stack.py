"""``make dev``: the whole app on one machine, no AWS account.

PostgreSQL is ``DATABASE_URL`` or an embedded server; the HTTP front (webhooks, task API,
``/health``) listens on 127.0.0.1:$CODELOOP_PORT. It prints its URLs and stops cleanly on Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import threading
from contextlib import ExitStack

from codeloop.observability import logger


def _database(stack: ExitStack) -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    from codeloop.local import embedded_pg

    server = embedded_pg.start()
    stack.callback(server.cleanup)
    url = embedded_pg.url(server)
    os.environ["DATABASE_URL"] = url
    return url


def run() -> int:
    from codeloop.api.front import handle
    from codeloop.db import migrations
    from codeloop.local.http import serve
    from codeloop.settings import get_settings, reset_settings

    stopping = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())

    from codeloop.local.sample_events import DEV_WEBHOOK_SECRET

    if not os.environ.get("GITHUB_WEBHOOK_SECRET"):
        os.environ["GITHUB_WEBHOOK_SECRET"] = DEV_WEBHOOK_SECRET
        print(f"GITHUB_WEBHOOK_SECRET is unset: using the development secret {DEV_WEBHOOK_SECRET!r}", flush=True)

    with ExitStack() as stack:
        embedded = "DATABASE_URL" not in os.environ
        url = _database(stack)
        reset_settings()
        applied = migrations.migrate(url)
        settings = get_settings()
        server = serve(handle, "127.0.0.1", settings.codeloop_port)
        stack.callback(server.server_close)
        stack.callback(server.shutdown)
        base = f"http://127.0.0.1:{settings.codeloop_port}"
        print(
            f"codeloop local stack: PostgreSQL {'embedded (.codeloop/pgdata)' if embedded else 'from DATABASE_URL'}, "
            f"{len(applied)} migration(s) applied",
            flush=True,
        )
        print(f"  health       GET  {base}/health", flush=True)
        print(f"  webhooks     POST {base}/webhooks/github", flush=True)
        print(f"  task API     {base}/api/v1/tasks  (OpenAPI: {base}/api/v1/openapi.json)", flush=True)
        print("Ctrl-C stops it.", flush=True)
        stopping.wait()
        logger.info("stopping the local stack")
    print("codeloop local stack stopped.", flush=True)
    return 0
