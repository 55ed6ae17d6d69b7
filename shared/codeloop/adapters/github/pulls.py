"""Pull requests: one, its files, its diff, and opening one."""

from __future__ import annotations

from codeloop.adapters.github.client import (
    ACCEPT_DIFF,
    PULL_REQUESTS_READ,
    PUSH_AND_OPEN_PR,
    Permissions,
    _pages,
    _repo_path,
    _repo_request,
    _trim,
)
from codeloop.adapters.github.errors import GitHubError
from codeloop.adapters.github.models import PullRequest, PullRequestFile


def get_pull_request(
    installation_id: int, repo: str, number: int, *, permissions: Permissions = PULL_REQUESTS_READ
) -> PullRequest:
    return PullRequest.model_validate(
        _repo_request("GET", installation_id, repo, permissions, _repo_path(repo, f"/pulls/{number}")).json()
    )


def list_pull_request_files(
    installation_id: int, repo: str, number: int, *, permissions: Permissions = PULL_REQUESTS_READ
) -> list[PullRequestFile]:
    path = _repo_path(repo, f"/pulls/{number}/files")
    return [
        PullRequestFile.model_validate(item)
        for page in _pages(installation_id, repo, permissions, path)
        for item in page
    ]


def get_pull_request_diff(
    installation_id: int, repo: str, number: int, *, permissions: Permissions = PULL_REQUESTS_READ
) -> str:
    response = _repo_request(
        "GET", installation_id, repo, permissions, _repo_path(repo, f"/pulls/{number}"), accept=ACCEPT_DIFF
    )
    return response.text


def create_pull_request(
    installation_id: int,
    repo: str,
    *,
    head: str,
    base: str,
    title: str,
    body: str = "",
    draft: bool = False,
    permissions: Permissions = PUSH_AND_OPEN_PR,
) -> PullRequest:
    """Open a pull request from branch ``head``; if one is already open for it, return that one."""
    try:
        response = _repo_request(
            "POST",
            installation_id,
            repo,
            permissions,
            _repo_path(repo, "/pulls"),
            json={"head": head, "base": base, "title": title, "body": _trim(body), "draft": draft},
        )
    except GitHubError as exc:
        if exc.status != 422 or "already exists" not in str(exc):
            raise
        owner = repo.split("/", 1)[0]
        open_prs = _repo_request(
            "GET",
            installation_id,
            repo,
            permissions,
            _repo_path(repo, "/pulls"),
            params={"head": f"{owner}:{head}", "base": base, "state": "open"},
        ).json()
        if not open_prs:
            raise
        return PullRequest.model_validate(open_prs[0])
    return PullRequest.model_validate(response.json())
