"""The repository itself: its facts, its languages, and a collaborator's role on it."""

from __future__ import annotations

from codeloop.adapters.github.client import (
    METADATA_READ,
    Permissions,
    _repo_path,
    _repo_request,
    _url_segment,
)
from codeloop.adapters.github.errors import GitHubNotFound
from codeloop.adapters.github.models import Repository

KNOWN_ROLES = ("none", "read", "triage", "write", "maintain", "admin")


def get_repository(
    installation_id: int, repo: str, *, permissions: Permissions = METADATA_READ
) -> Repository:
    return Repository.model_validate(
        _repo_request("GET", installation_id, repo, permissions, _repo_path(repo)).json()
    )


def get_languages(
    installation_id: int, repo: str, *, permissions: Permissions = METADATA_READ
) -> dict[str, int]:
    """Bytes of code per language, largest first (GitHub's order)."""
    return _repo_request("GET", installation_id, repo, permissions, _repo_path(repo, "/languages")).json()


def collaborator_permission(
    installation_id: int, repo: str, username: str, *, permissions: Permissions = METADATA_READ
) -> str:
    """The user's role on the repository: none, read, triage, write, maintain or admin.

    ``role_name`` tells triage and maintain apart; a custom role falls back to its base
    ``permission``.
    """
    try:
        data = _repo_request(
            "GET",
            installation_id,
            repo,
            permissions,
            _repo_path(repo, f"/collaborators/{_url_segment(username)}/permission"),
        ).json()
    except GitHubNotFound:
        return "none"
    role = data.get("role_name")
    return role if role in KNOWN_ROLES else data.get("permission", "none")


def repository_allows_auto_merge(
    installation_id: int, repo: str, *, permissions: Permissions = METADATA_READ
) -> bool | None:
    """The repository's ``allow_auto_merge`` setting, or None when GitHub leaves it out."""
    data = _repo_request("GET", installation_id, repo, permissions, _repo_path(repo)).json()
    value = data.get("allow_auto_merge")
    return value if isinstance(value, bool) else None
