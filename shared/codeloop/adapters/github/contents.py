"""Reading the repository's code without a clone: a file, the tree, the recent commits."""

from __future__ import annotations

from codeloop.adapters.github.client import (
    ACCEPT_RAW,
    CONTENTS_READ,
    PAGE_SIZE,
    Permissions,
    UnsafeUrlPath,
    _pages,
    _repo_path,
    _repo_request,
    _url_segment,
    _url_segments,
)
from codeloop.adapters.github.errors import GitHubNotFound
from codeloop.adapters.github.models import Commit, Tree


def get_file_content(
    installation_id: int,
    repo: str,
    path: str,
    ref: str | None = None,
    *,
    permissions: Permissions = CONTENTS_READ,
) -> str | None:
    """A file's text at ``ref`` (the default branch when None), or None when there is no such file
    (nor can be: a path with an empty, ``.`` or ``..`` segment)."""
    try:
        response = _repo_request(
            "GET",
            installation_id,
            repo,
            permissions,
            _repo_path(repo, f"/contents/{_url_segments(path)}"),
            accept=ACCEPT_RAW,
            params={"ref": ref} if ref else None,
        )
    except (GitHubNotFound, UnsafeUrlPath):
        return None
    return response.content.decode("utf-8", errors="replace")


def get_tree(installation_id: int, repo: str, ref: str, *, permissions: Permissions = CONTENTS_READ) -> Tree:
    """The recursive tree at a branch, tag or commit; ``truncated`` when GitHub cut it short."""
    response = _repo_request(
        "GET",
        installation_id,
        repo,
        permissions,
        _repo_path(repo, f"/git/trees/{_url_segment(ref)}"),
        params={"recursive": "1"},
    )
    return Tree.model_validate(response.json())


def list_commits(
    installation_id: int,
    repo: str,
    *,
    path: str | None = None,
    ref: str | None = None,
    author: str | None = None,
    limit: int = 10,
    permissions: Permissions = CONTENTS_READ,
) -> list[Commit]:
    """The most recent commits (newest first), optionally only those touching ``path`` or written
    by ``author`` (a login or an email address)."""
    params = {"per_page": min(limit, PAGE_SIZE)} | {
        k: v for k, v in {"path": path, "sha": ref, "author": author}.items() if v
    }
    commits: list[Commit] = []
    for page in _pages(installation_id, repo, permissions, _repo_path(repo, "/commits"), params):
        commits.extend(Commit.model_validate(item) for item in page)
        if len(commits) >= limit:
            break
    return commits[:limit]
