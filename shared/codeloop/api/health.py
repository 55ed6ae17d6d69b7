"""``GET /health``: is the database reachable, and are its migrations current?"""

from __future__ import annotations

from typing import Any


def health() -> tuple[int, dict[str, Any]]:
    from codeloop.db import migrations
    from codeloop.db.pool import database_url

    try:
        states = migrations.status(database_url())
    except Exception as exc:  # any failure to reach or read the database is "down", with its reason
        return 503, {
            "status": "down",
            "database": {"reachable": False, "error": type(exc).__name__ + ": " + str(exc)[:200]},
        }
    pending = [state.migration.label for state in states if not state.applied]
    body = {
        "status": "ok" if not pending else "degraded",
        "database": {
            "reachable": True,
            "migrations": {"current": not pending, "applied": len(states) - len(pending), "pending": pending},
        },
    }
    return (200 if not pending else 503), body
