"""Pushing files without a clone (Git Data API): blobs, a tree, a commit, the branch's ref."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from codeloop.adapters.github.client import PUSH_AND_OPEN_PR, Permissions, _repo_path, _repo_request
from codeloop.adapters.github.errors import GitHubNotFound


def _branch_head(installation_id: int, repo: str, branch: str, permissions: Permissions) -> str | None:
    try:
        response = _repo_request(
            "GET", installation_id, repo, permissions, _repo_path(repo, f"/git/ref/heads/{quote(branch)}")
        )
    except GitHubNotFound:
        return None
    return response.json()["object"]["sha"]


def push_branch_with_files(
    installation_id: int,
    repo: str,
    base_branch: str,
    branch: str,
    files: Mapping[str, str | None],
    message: str,
    *,
    permissions: Permissions = PUSH_AND_OPEN_PR,
) -> str:
    """Commit ``files`` (path → text, or None to delete) on ``branch`` and return the new head sha.

    The commit goes on top of ``branch`` when it exists, else on top of ``base_branch``; the
    branch is created or fast-forwarded.
    """
    existing_head = _branch_head(installation_id, repo, branch, permissions)
    parent = existing_head or _branch_head(installation_id, repo, base_branch, permissions)
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
        entries.append({"path": path, "mode": "100644", "type": "blob", "sha": blob_sha})
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
            _repo_path(repo, f"/git/refs/heads/{quote(branch)}"),
            json={"sha": commit["sha"], "force": False},
        )
    return commit["sha"]
