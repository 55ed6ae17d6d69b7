"""What a failed GitHub call raises: callers catch these, never githubkit's or httpx's."""

from __future__ import annotations


class GitHubError(RuntimeError):
    """A GitHub call failed; ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class GitHubNotFound(GitHubError):
    """404: the thing does not exist or this token may not see it."""


class GitHubRateLimited(GitHubError):
    """Rate-limited for longer than is worth waiting in-process: retry after ``retry_after`` s."""

    def __init__(self, message: str, retry_after: float, status: int | None = None):
        super().__init__(message, status)
        self.retry_after = retry_after


class GitHubRetryable(GitHubError):
    """A server error or network failure: the same call may succeed later."""


class GraphQLRefused(GitHubError):
    """GitHub's GraphQL API answered with ``errors`` (it does so with HTTP 200)."""
