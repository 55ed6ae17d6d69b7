"""``GET /health``: is the database reachable, and are its migrations current?

Anyone can call it, so it says only that: no error text, host, version or migration name. The
reason for a failure goes to the log. The database wait is the HTTP front's short one, so a
database that is down or silent gives a 503 at once.
"""

from __future__ import annotations

from typing import Any

import psycopg

from codeloop.observability import logger


def health() -> tuple[int, dict[str, Any]]:
    from codeloop.db import migrations
    from codeloop.db.pool import front_wait, transaction

    try:
        with transaction(wait=front_wait()) as conn:
            applied = migrations.applied_versions(conn)
    except psycopg.Error as exc:
        logger.warning("health: the database is unreachable", extra={"error": type(exc).__name__})
        return 503, {"status": "down", "database": {"reachable": False}}
    current = {migration.version for migration in migrations.discover()} <= applied
    body = {
        "status": "ok" if current else "degraded",
        "database": {"reachable": True, "migrations_current": current},
    }
    return (200 if current else 503), body
