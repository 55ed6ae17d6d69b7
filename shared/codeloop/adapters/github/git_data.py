"""Pushing files without a clone (Git Data API): blobs, a tree, a commit, the branch's ref."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from codeloop.adapters.github.client import (
    CONTENTS_READ,
    PUSH_AND_OPEN_PR,
    Permissions,
    _repo_path,
    _repo_request,
    _url_segments,
)
from codeloop.adapters.github.errors import GitHubError, GitHubNotFound


def branch_head(
    installation_id: int, repo: str, branch: str, permissions: Permissions = CONTENTS_READ
) -> str | None:
    """The commit a branch points at, or None when there is no such branch."""
    try:
        response = _repo_request(
            "GET",
            installation_id,
            repo,
            permissions,
            _repo_path(repo, f"/git/ref/heads/{_url_segments(branch)}"),
        )
    except GitHubNotFound:
        return None
    return response.json()["object"]["sha"]


def commit_tree_sha(
    installation_id: int, repo: str, sha: str, permissions: Permissions = CONTENTS_READ
) -> str:
    """The git tree of commit ``sha`` (what its files are, whatever its history)."""
    response = _repo_request(
        "GET", installation_id, repo, permissions, _repo_path(repo, f"/git/commits/{_url_segments(sha)}")
    )
    return response.json()["tree"]["sha"]


def push_branch_with_files(
    installation_id: int,
    repo: str,
    base_branch: str,
    branch: str,
    files: Mapping[str, str | None],
    message: str,
    *,
    modes: Mapping[str, str] | None = None,
    new_branch: bool = True,
    permissions: Permissions = PUSH_AND_OPEN_PR,
) -> str:
    """Commit ``files`` (path → text, or None to delete) on ``branch`` and return the new head sha.

    ``modes`` gives a file's mode (default 100644). With ``new_branch`` the branch must not exist
    yet: it is created on top of ``base_branch``, so a branch codeloop did not create is never
    pushed to. Otherwise the commit goes on top of ``branch`` (fast-forward), or of
    ``base_branch`` if the branch is gone.
    """
    existing_head = branch_head(installation_id, repo, branch, permissions)
    if new_branch and existing_head is not None:
        raise GitHubError(
            f"{repo}: branch {branch!r} already exists; codeloop pushes only to branches it created", 422
        )
    parent = existing_head or branch_head(installation_id, repo, base_branch, permissions)
    if parent is None:
        raise GitHubNotFound(f"{repo}: base branch {base_branch!r} does not exist", 404)

    def post(suffix: str, body: dict[str, Any]) -> dict[str, Any]:
        return _repo_request(
            "POST", installation_id, repo, permissions, _repo_path(repo, suffix), json=body
        ).json()

    parent_commit = _repo_request(
        "GET", installation_id, repo, permissions, _repo_path(repo, f"/git/commits/{parent}")
    ).json()
    entries = []
    for path, text in files.items():
        blob_sha = None if text is None else post("/git/blobs", {"content": text, "encoding": "utf-8"})["sha"]
        mode = (modes or {}).get(path, "100644")
        entries.append({"path": path, "mode": mode, "type": "blob", "sha": blob_sha})
    tree = post("/git/trees", {"base_tree": parent_commit["tree"]["sha"], "tree": entries})
    commit = post("/git/commits", {"message": message, "tree": tree["sha"], "parents": [parent]})
    if existing_head is None:
        post("/git/refs", {"ref": f"refs/heads/{branch}", "sha": commit["sha"]})
    else:
        _repo_request(
            "PATCH",
            installation_id,
            repo,
            permissions,
            _repo_path(repo, f"/git/refs/heads/{_url_segments(branch)}"),
            json={"sha": commit["sha"], "force": False},
        )
    return commit["sha"]
