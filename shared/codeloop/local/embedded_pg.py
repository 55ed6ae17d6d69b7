"""An embedded PostgreSQL server (the ``pgserver`` package) for ``make dev`` and the tests.

Used only when ``DATABASE_URL`` is unset. pgserver ships PostgreSQL 16, listens on a Unix
socket in its data directory and, when run as root, runs the server as its own user.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

DEFAULT_DATA_DIR = Path(".codeloop") / "pgdata"


def local_data_dir() -> Path:
    """Where ``make dev`` keeps its database: ``CODELOOP_PGDATA``, or .codeloop/pgdata."""
    return Path(os.environ.get("CODELOOP_PGDATA") or DEFAULT_DATA_DIR).resolve()


def start(data_dir: Path | str | None = None, *, cleanup: str = "stop") -> Any:
    """Start (or reuse) the server whose data lives in ``data_dir`` (by default ``make dev``'s);
    returns the pgserver handle."""
    import pgserver  # the local extra: not in the Lambda layer

    path = Path(data_dir).resolve() if data_dir else local_data_dir()
    path.mkdir(parents=True, exist_ok=True)
    return pgserver.get_server(path, cleanup_mode=cleanup)


def url(server: Any, database: str = "postgres") -> str:
    return server.get_uri(database)
