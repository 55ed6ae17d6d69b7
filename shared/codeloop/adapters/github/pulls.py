"""Pull requests: one, its files, its diff, and opening one."""

from __future__ import annotations

from codeloop.adapters.github.client import (
    ACCEPT_DIFF,
    MERGE_PULL_REQUESTS,
    PULL_REQUESTS_READ,
    PULL_REQUESTS_WRITE,
    PUSH_AND_OPEN_PR,
    Permissions,
    _pages,
    _repo_path,
    _repo_request,
    _trim,
)
from codeloop.adapters.github.errors import (
    GitHubError,
    GraphQLRefused,
)
from codeloop.adapters.github.models import (
    MergeState,
    PullRequest,
    PullRequestFile,
    ReviewThread,
)
from codeloop.settings import get_settings


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


def update_pull_request_body(
    installation_id: int, repo: str, number: int, body: str, *, permissions: Permissions = PULL_REQUESTS_WRITE
) -> PullRequest:
    """Replace a pull request's description (trimmed to GitHub's limit)."""
    return PullRequest.model_validate(
        _repo_request(
            "PATCH",
            installation_id,
            repo,
            permissions,
            _repo_path(repo, f"/pulls/{number}"),
            json={"body": _trim(body)},
        ).json()
    )


ENABLE_AUTO_MERGE = """
mutation EnableAutoMerge(
  $pullRequestId: ID!, $mergeMethod: PullRequestMergeMethod!, $expectedHeadOid: GitObjectID!
) {
  enablePullRequestAutoMerge(
    input: {pullRequestId: $pullRequestId, mergeMethod: $mergeMethod, expectedHeadOid: $expectedHeadOid}
  ) {
    pullRequest { number autoMergeRequest { enabledAt mergeMethod } }
  }
}
"""


def get_merge_state(
    installation_id: int, repo: str, number: int, *, permissions: Permissions = PULL_REQUESTS_READ
) -> MergeState:
    return MergeState.model_validate(
        _repo_request("GET", installation_id, repo, permissions, _repo_path(repo, f"/pulls/{number}")).json()
    )


def _graphql_url() -> str:
    """``/graphql`` on github.com; GitHub Enterprise Server serves it at ``/api/graphql`` beside ``/api/v3``."""
    base = get_settings().github_api_url.rstrip("/")
    return base.removesuffix("/v3") + "/graphql" if base.endswith("/api/v3") else base + "/graphql"


def _graphql(
    installation_id: int, repo: str, permissions: Permissions, query: str, variables: dict[str, object]
) -> dict:
    """Run one GraphQL document with a token for ``repo``; its ``data``, or :class:`GraphQLRefused`."""
    answer = _repo_request(
        "POST",
        installation_id,
        repo,
        permissions,
        _graphql_url(),
        json={"query": query, "variables": variables},
    ).json()
    errors = answer.get("errors") if isinstance(answer, dict) else None
    if errors or not isinstance(answer, dict):
        messages = "; ".join(str(e.get("message", "")) for e in errors or [] if isinstance(e, dict))
        raise GraphQLRefused(messages or "GraphQL error", 200)
    return answer.get("data") or {}


def enable_auto_merge(
    installation_id: int,
    repo: str,
    node_id: str,
    method: str,
    *,
    sha: str,
    permissions: Permissions = MERGE_PULL_REQUESTS,
) -> None:
    """Turn on GitHub's auto-merge for a pull request (``method``: MERGE, SQUASH or REBASE), only if
    its head is still ``sha``.

    Raises :class:`GraphQLRefused` with GitHub's message, e.g. "Pull request Auto merge is not
    allowed for this repository", "Pull request is in clean status" or "Head sha didn't match
    expected head sha".
    """
    _graphql(
        installation_id,
        repo,
        permissions,
        ENABLE_AUTO_MERGE,
        {"pullRequestId": node_id, "mergeMethod": method, "expectedHeadOid": sha},
    )


DISABLE_AUTO_MERGE = """
mutation DisableAutoMerge($pullRequestId: ID!) {
  disablePullRequestAutoMerge(input: {pullRequestId: $pullRequestId}) {
    pullRequest { number autoMergeRequest { enabledAt } }
  }
}
"""


def disable_auto_merge(
    installation_id: int, repo: str, node_id: str, *, permissions: Permissions = MERGE_PULL_REQUESTS
) -> None:
    """Turn off GitHub's auto-merge for a pull request.

    Raises :class:`GraphQLRefused` with GitHub's message, e.g. "Pull request is closed".
    """
    _graphql(installation_id, repo, permissions, DISABLE_AUTO_MERGE, {"pullRequestId": node_id})


def merge_pull_request(
    installation_id: int,
    repo: str,
    number: int,
    *,
    sha: str,
    method: str,
    permissions: Permissions = MERGE_PULL_REQUESTS,
) -> str:
    """Merge through REST, only if the head is still ``sha``; returns the merge commit's sha.

    GitHub answers 405 when the pull request is not mergeable (e.g. "At least 1 approving review
    is required") and 409 when the head moved; both raise :class:`GitHubError` with that status.
    """
    return _repo_request(
        "PUT",
        installation_id,
        repo,
        permissions,
        _repo_path(repo, f"/pulls/{number}/merge"),
        json={"sha": sha, "merge_method": method},
    ).json()["sha"]


REVIEW_THREADS = """
query ReviewThreads($owner: String!, $name: String!, $number: Int!) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      reviewThreads(first: 100) {
        nodes {
          isResolved isOutdated path line originalLine
          comments(first: 50) { nodes { author { login } body url diffHunk } }
        }
      }
    }
  }
}
"""


def list_review_threads(
    installation_id: int, repo: str, number: int, *, permissions: Permissions = PULL_REQUESTS_READ
) -> list[ReviewThread]:
    """The pull request's review threads (the first 100, 50 comments each), resolved or not.

    REST lists review comments but cannot tell a resolved thread from an open one; GraphQL can.
    Raises :class:`GraphQLRefused` with GitHub's message (e.g. the pull request does not exist).
    """
    owner, name = repo.split("/", 1)
    data = _graphql(
        installation_id,
        repo,
        permissions,
        REVIEW_THREADS,
        {"owner": owner, "name": name, "number": number},
    )
    pull = ((data.get("repository") or {}).get("pullRequest")) or {}
    nodes = (pull.get("reviewThreads") or {}).get("nodes") or []
    return [ReviewThread.model_validate(node) for node in nodes if isinstance(node, dict)]
