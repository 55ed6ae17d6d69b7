"""What intake remembers to stay quiet: the reply a stranger's comment got, the notice a limited user got."""

from __future__ import annotations

from datetime import datetime

from psycopg import Connection

from codeloop.db.queries import query


def claim_comment_reply(conn: Connection, comment_id: int) -> bool:
    """True the first time only: the comment's one reply is this caller's to send."""
    return conn.execute(query("intake.claim_comment_reply"), {"comment_id": comment_id}).fetchone() is not None


def claim_limit_notice(conn: Connection, login: str, until: datetime, now: datetime) -> bool:
    """True when ``login`` has no notice running at ``now``; it then has one until ``until``."""
    row = conn.execute(
        query("intake.claim_limit_notice"), {"login": login, "until": until, "now": now}
    ).fetchone()
    return row is not None


def prune(conn: Connection, before: datetime) -> dict[str, int]:
    """Delete replies given and notices that ran out before ``before``; how many of each went."""
    return {
        "comment_replies": conn.execute(query("intake.prune_comment_replies"), {"before": before}).rowcount,
        "limit_notices": conn.execute(query("intake.prune_limit_notices"), {"before": before}).rowcount,
    }
