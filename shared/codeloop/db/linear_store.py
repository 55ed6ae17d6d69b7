"""Linear in PostgreSQL: teams (or projects) mapped to repositories, and the issue behind a task."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from psycopg import Connection

from codeloop.db.queries import fetch_all, fetch_one, query
from codeloop.domain.linear import LinearIssueTask, LinearMapping


def map_team(
    conn: Connection, team_key: str, repository_full_name: str, *, project: str = "", done_state: str | None
) -> LinearMapping:
    mapping = fetch_one(
        conn,
        "linear.map_team",
        LinearMapping,
        team_key=team_key.upper(),
        project=project,
        repository_full_name=repository_full_name,
        done_state=done_state,
    )
    assert mapping is not None  # an upsert … returning always returns its row
    return mapping


def unmap_team(conn: Connection, team_key: str, *, project: str = "") -> LinearMapping | None:
    return fetch_one(conn, "linear.unmap_team", LinearMapping, team_key=team_key.upper(), project=project)


def mappings(conn: Connection) -> list[LinearMapping]:
    return fetch_all(conn, "linear.list_mappings", LinearMapping)


def mapping_for(
    conn: Connection, team_key: str, project_id: str | None, project_name: str | None
) -> LinearMapping | None:
    """The project's own mapping (by id or name) when there is one, else the whole team's."""
    return fetch_one(
        conn,
        "linear.mapping_for",
        LinearMapping,
        team_key=team_key.upper(),
        project_id=project_id,
        project_name=project_name,
    )


def link_task(conn: Connection, task_id: UUID, issue: LinearIssueTask) -> None:
    conn.execute(
        query("linear.link_task"),
        {
            "task_id": task_id,
            "issue_id": issue.issue_id,
            "identifier": issue.identifier,
            "url": issue.url,
            "team_id": issue.team_id,
            "done_state": issue.done_state,
        },
    )


def issue_task(conn: Connection, task_id: UUID | str) -> LinearIssueTask | None:
    return fetch_one(conn, "linear.get_issue_task", LinearIssueTask, task_id=task_id)


def latest_task_for_issue(conn: Connection, issue_id: str) -> LinearIssueTask | None:
    return fetch_one(conn, "linear.latest_task_for_issue", LinearIssueTask, issue_id=issue_id)


def record_published(
    conn: Connection,
    task_id: UUID | str,
    *,
    comment_id: str | None = None,
    comment_body: str | None = None,
    attachment_url: str | None = None,
    moved_to_state: str | None = None,
) -> None:
    """Remember what the Linear issue now shows (None leaves a field as it was)."""
    conn.execute(
        query("linear.record_published"),
        {
            "task_id": task_id,
            "comment_id": comment_id,
            "comment_body": comment_body,
            "attachment_url": attachment_url,
            "moved_to_state": moved_to_state,
        },
    )


def defer_publish(conn: Connection, task_id: UUID | str, retry_at: datetime) -> None:
    """An update of the task's issue failed: leave the issue alone until ``retry_at``, one more try counted."""
    conn.execute(query("linear.defer_publish"), {"task_id": task_id, "retry_at": retry_at})


def publish_went_through(conn: Connection, task_id: UUID | str) -> None:
    """The issue shows the task's state: no wait, no failed try."""
    conn.execute(query("linear.publish_went_through"), {"task_id": task_id})
