"""Issue and pull request comments: the task's one marked comment, and reactions to commands."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from codeloop.adapters.github.client import (
    COMMENTS_READ,
    COMMENTS_WRITE,
    GITHUB_TEXT_LIMIT,
    MAX_PAGES,
    PAGE_SIZE,
    Permissions,
    _repo_path,
    _repo_request,
    _trim,
)
from codeloop.adapters.github.models import IssueComment


def get_issue(
    installation_id: int, repo: str, number: int, *, permissions: Permissions = COMMENTS_READ
) -> dict[str, Any]:
    """An issue or pull request as ``GET /repos/{o}/{r}/issues/{n}`` returns it (title, body, and
    ``pull_request`` when it is one): the shape a comment webhook carries as ``issue``."""
    return _repo_request("GET", installation_id, repo, permissions, _repo_path(repo, f"/issues/{number}")).json()


def create_issue_comment(
    installation_id: int,
    repo: str,
    issue_number: int,
    body: str,
    *,
    permissions: Permissions = COMMENTS_WRITE,
) -> IssueComment:
    response = _repo_request(
        "POST",
        installation_id,
        repo,
        permissions,
        _repo_path(repo, f"/issues/{issue_number}/comments"),
        json={"body": _trim(body)},
    )
    return IssueComment.model_validate(response.json())


def update_issue_comment(
    installation_id: int, repo: str, comment_id: int, body: str, *, permissions: Permissions = COMMENTS_WRITE
) -> IssueComment:
    response = _repo_request(
        "PATCH",
        installation_id,
        repo,
        permissions,
        _repo_path(repo, f"/issues/comments/{comment_id}"),
        json={"body": _trim(body)},
    )
    return IssueComment.model_validate(response.json())


def find_comment_with_marker(
    installation_id: int,
    repo: str,
    issue_number: int,
    marker: str,
    *,
    permissions: Permissions = COMMENTS_READ,
) -> IssueComment | None:
    """The newest bot comment holding ``marker``, scanning the newest pages first."""
    path = _repo_path(repo, f"/issues/{issue_number}/comments")
    first = _repo_request("GET", installation_id, repo, permissions, path, params={"per_page": PAGE_SIZE})
    last_link = first.links.get("last")
    last_page = int(parse_qs(urlsplit(last_link["url"]).query)["page"][0]) if last_link else 1
    for page in range(last_page, max(last_page - MAX_PAGES, 0), -1):
        if page == 1:
            comments = first.json()
        else:
            comments = _repo_request(
                "GET", installation_id, repo, permissions, path, params={"per_page": PAGE_SIZE, "page": page}
            ).json()
        for comment in reversed(comments):
            if marker in (comment.get("body") or "") and comment.get("user", {}).get("type") == "Bot":
                return IssueComment.model_validate(comment)
    return None


def upsert_marked_comment(
    installation_id: int,
    repo: str,
    issue_number: int,
    marker: str,
    body: str,
    *,
    permissions: Permissions = COMMENTS_WRITE,
) -> IssueComment:
    """Create or update the one comment that holds ``marker``; the marker survives trimming."""
    body = _trim(body)
    if marker not in body:
        body = marker + "\n" + _trim(body, GITHUB_TEXT_LIMIT - len(marker) - 1)
    existing = find_comment_with_marker(installation_id, repo, issue_number, marker, permissions=permissions)
    if existing is None:
        return create_issue_comment(installation_id, repo, issue_number, body, permissions=permissions)
    if existing.body == body:
        return existing
    return update_issue_comment(installation_id, repo, existing.id, body, permissions=permissions)


def add_reaction_to_comment(
    installation_id: int,
    repo: str,
    comment_id: int,
    content: str = "eyes",
    *,
    on_review_comment: bool = False,
    permissions: Permissions = COMMENTS_WRITE,
) -> None:
    """React to an issue comment, or (``on_review_comment``) to a comment on a line of a PR's diff."""
    kind = "pulls" if on_review_comment else "issues"
    _repo_request(
        "POST",
        installation_id,
        repo,
        permissions,
        _repo_path(repo, f"/{kind}/comments/{comment_id}/reactions"),
        json={"content": content},
    )
