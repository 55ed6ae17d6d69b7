"""How codeloop talks to GitHub: identity, tokens, retries, rate limits and errors.

Built on githubkit's core (request loop, rate-limit detection, retry decisions, hishel HTTP cache)
with plain paths and small pydantic models rather than githubkit's generated REST models, which
cost hundreds of milliseconds to import on a cold Lambda.

- Identity: the App JWT signs ``/app/...`` calls; everything else uses an installation token
  narrowed to one repository and the permissions the operation needs, cached per
  (installation, repository, permissions) until 5 minutes before it expires.
- ``GITHUB_API_URL`` is the base of every call (GitHub Enterprise Server works).
- Rate limits: a short wait (≤ 5 s) is waited out a bounded number of times; a longer one raises
  :class:`GitHubRateLimited` so the caller's queue retries later.
- Reads are conditional: the HTTP cache revalidates with ``If-None-Match`` and a 304 costs no
  rate limit.
- Nothing is imported or created at module import time beyond pydantic: githubkit, httpx and
  PyJWT are loaded at the first call, and the client and its connection pool are then reused.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from codeloop.adapters.github.errors import GitHubError, GitHubNotFound, GitHubRateLimited, GitHubRetryable
from codeloop.domain.markdown import GITHUB_TEXT_LIMIT
from codeloop.settings import get_settings

if TYPE_CHECKING:
    import httpx
    from githubkit import GitHub
    from githubkit.exception import GitHubException
    from githubkit.typing import RetryOption

# -- limits and policy -----------------------------------------------------------------------------

TOKEN_REFRESH_MARGIN = timedelta(minutes=5)
JWT_LIFETIME = timedelta(minutes=9)
JWT_REUSE = timedelta(minutes=8)
SHORT_WAIT = timedelta(seconds=5)  # rate-limit waits up to this long happen in-process
MAX_RETRIES = 2  # per request, for short rate-limit waits and idempotent 5xx/network failures
PAGE_SIZE = 100
MAX_PAGES = 30  # 3,000 items: GitHub's own cap for a pull request's files
REQUEST_TIMEOUT_SECONDS = 20.0
CONNECT_TIMEOUT_SECONDS = 5.0
USER_AGENT = "codeloop"
ACCEPT_JSON = "application/vnd.github+json"
ACCEPT_RAW = "application/vnd.github.raw+json"
ACCEPT_DIFF = "application/vnd.github.diff"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})

Permissions = Mapping[str, Literal["read", "write"]]

# What each kind of operation needs; a caller may pass a wider set to share one token.
METADATA_READ: Permissions = {"metadata": "read"}
CONTENTS_READ: Permissions = {"contents": "read"}  # also the validation runner's clone token
CONTENTS_WRITE: Permissions = {"contents": "write"}
CHECKS_READ: Permissions = {"checks": "read"}
CHECKS_WRITE: Permissions = {"checks": "write"}
PULL_REQUESTS_READ: Permissions = {"pull_requests": "read"}
PULL_REQUESTS_WRITE: Permissions = {"pull_requests": "write"}
COMMENTS_READ: Permissions = {"issues": "read", "pull_requests": "read"}
COMMENTS_WRITE: Permissions = {"issues": "write", "pull_requests": "write"}
PUSH_AND_OPEN_PR: Permissions = {"contents": "write", "pull_requests": "write"}
STATUS_REPORTING: Permissions = {"checks": "write", "issues": "write", "pull_requests": "write"}
# Merging a pull request writes the base branch (contents) and the pull request.
MERGE_PULL_REQUESTS: Permissions = {"contents": "write", "pull_requests": "write"}


# -- the client: lazily created, reused ------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    value: str
    expires_at: float  # epoch seconds


class _State:
    """The process's client, connection pool, HTTP cache, JWT and installation tokens."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.github: GitHub | None = None
        self.transport: Any = None  # the connection pool, closed by reset_clients
        self.tokens: dict[tuple[int, str, tuple[tuple[str, str], ...]], _Token] = {}
        self.jwt: _Token | None = None


_state = _State()


def reset_clients() -> None:
    """Forget the client, its cache and every token (tests and the local stack change settings)."""
    global _state
    previous, _state = _state, _State()
    if previous.transport is not None:
        previous.transport.shutdown()


def _github() -> GitHub:
    if _state.github is None:
        with _state.lock:
            if _state.github is None:
                _state.github, _state.transport = _build_github()
    return _state.github


def _build_github() -> tuple[GitHub, Any]:
    import httpx
    from githubkit import GitHub
    from githubkit.cache import MemCacheStrategy

    class _PooledTransport(httpx.HTTPTransport):
        """githubkit opens and closes a client per request; the pool must outlive them."""

        def close(self) -> None:
            return None

        def shutdown(self) -> None:
            super().close()

    transport = _PooledTransport()
    github = GitHub(
        base_url=get_settings().github_api_url + "/",
        user_agent=USER_AGENT,
        accept_format="+json",
        timeout=httpx.Timeout(REQUEST_TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS),
        transport=transport,
        cache_strategy=MemCacheStrategy(),
        http_cache=True,  # hishel, always revalidating: If-None-Match on every cached GET
        auto_retry=_retry_decision,
    )
    return github, transport


def _retry_decision(exc: GitHubException, retry_count: int) -> RetryOption:
    """githubkit's retry hook: short rate-limit waits and idempotent transient failures only."""
    from githubkit.exception import RateLimitExceeded, RequestError, RequestFailed
    from githubkit.typing import RetryOption

    if retry_count >= MAX_RETRIES:
        return RetryOption(False)
    if isinstance(exc, RateLimitExceeded):
        if exc.retry_after > SHORT_WAIT:
            return RetryOption(False)
        # githubkit sleeps 60 s on a zero wait: a reset already past still waits one second.
        return RetryOption(True, max(exc.retry_after, timedelta(seconds=1)))
    backoff = RetryOption(True, timedelta(seconds=0.5 * 2**retry_count))
    if isinstance(exc, RequestFailed):
        transient = exc.response.status_code >= 500
        return backoff if transient and exc.request.method in IDEMPOTENT_METHODS else RetryOption(False)
    if isinstance(exc, RequestError) and _method_of(exc) in IDEMPOTENT_METHODS:
        return backoff
    return RetryOption(False)


def _method_of(exc: GitHubException) -> str | None:
    try:
        return exc.exc.request.method  # type: ignore[attr-defined]
    except (AttributeError, RuntimeError):
        return None


def _translate(exc: GitHubException) -> GitHubError:
    from githubkit.exception import RateLimitExceeded, RequestFailed

    if isinstance(exc, RateLimitExceeded):
        wait = exc.retry_after.total_seconds()
        return GitHubRateLimited(
            f"GitHub rate limit: retry after {wait:.0f} s", wait, exc.response.status_code
        )
    if isinstance(exc, RequestFailed):
        status = exc.response.status_code
        what = f"{exc.request.method} {exc.request.url.path} → {status}: {_error_message(exc.response)}"
        if status == 404:
            return GitHubNotFound(what, status)
        if status == 429:  # without Retry-After GitHub asks for at least a minute
            return GitHubRateLimited(what, 60.0, status)
        if status >= 500:
            return GitHubRetryable(what, status)
        return GitHubError(what, status)
    return GitHubRetryable(f"GitHub unreachable: {exc!r}")


def _error_message(response: Any) -> str:
    """GitHub's ``message`` and the ``errors[].message`` details (e.g. "A pull request already exists")."""
    try:
        data = response.json()
        details = [
            str(error.get("message", "")) for error in data.get("errors", []) if isinstance(error, dict)
        ]
        return "; ".join(filter(None, [str(data.get("message", "")), *details]))[:500]
    except (ValueError, AttributeError):
        return response.text[:300]


# -- identity --------------------------------------------------------------------------------------


def _app_jwt() -> str:
    now = time.time()
    current = _state.jwt
    if current is not None and current.expires_at > now:
        return current.value
    import jwt

    settings = get_settings()
    issued = int(now) - 60  # GitHub's advice: allow for clock drift
    value = jwt.encode(
        {
            "iat": issued,
            "exp": issued + int(JWT_LIFETIME.total_seconds()),
            "iss": str(settings.require("github_app_id")),
        },
        settings.secret("github_app_private_key"),
        algorithm="RS256",
    )
    _state.jwt = _Token(value, now + JWT_REUSE.total_seconds())
    return value


def _repo_name(repo: str) -> str:
    return repo.rsplit("/", 1)[-1]


def installation_token(installation_id: int, repo_name: str, permissions: Permissions) -> str:
    """An installation token for one repository (``name`` or ``owner/name``) and these permissions.

    Cached in-process per (installation, repository, permissions) and reused until 5 minutes
    before it expires.
    """
    key = (installation_id, _repo_name(repo_name), tuple(sorted(permissions.items())))
    cached = _state.tokens.get(key)
    if cached is not None and cached.expires_at - TOKEN_REFRESH_MARGIN.total_seconds() > time.time():
        return cached.value
    data = _app_request(
        "POST",
        f"/app/installations/{installation_id}/access_tokens",
        json={"repositories": [key[1]], "permissions": dict(permissions)},
    ).json()
    expires_at = datetime.fromisoformat(data["expires_at"].replace("Z", "+00:00")).timestamp()
    _state.tokens[key] = _Token(data["token"], expires_at)
    return data["token"]


def _forget_token(installation_id: int, repo: str, permissions: Permissions) -> None:
    _state.tokens.pop((installation_id, _repo_name(repo), tuple(sorted(permissions.items()))), None)


# -- requests --------------------------------------------------------------------------------------


def _send(method: str, path: str, authorization: str, accept: str, **kwargs: Any) -> httpx.Response:
    from githubkit.exception import GitHubException

    headers = {"Authorization": authorization, "Accept": accept, "X-GitHub-Api-Version": "2022-11-28"}
    try:
        return _github().request(method, path.lstrip("/"), headers=headers, **kwargs).raw_response
    except GitHubException as exc:
        raise _translate(exc) from None


def _app_request(method: str, path: str, **kwargs: Any) -> httpx.Response:
    return _send(method, path, f"Bearer {_app_jwt()}", ACCEPT_JSON, **kwargs)


def _repo_request(
    method: str,
    installation_id: int,
    repo: str,
    permissions: Permissions,
    path: str,
    *,
    accept: str = ACCEPT_JSON,
    **kwargs: Any,
) -> httpx.Response:
    """A call as the installation; a token GitHub no longer accepts is replaced once."""
    for attempt in (1, 2):
        token = installation_token(installation_id, repo, permissions)
        try:
            return _send(method, path, f"token {token}", accept, **kwargs)
        except GitHubError as exc:
            if exc.status != 401 or attempt == 2:
                raise
            _forget_token(installation_id, repo, permissions)
    raise AssertionError("unreachable")


def _pages(
    installation_id: int,
    repo: str,
    permissions: Permissions,
    path: str,
    params: Mapping[str, Any] | None = None,
    items_key: str | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """Each page of a paginated list, oldest first, following ``Link: rel="next"``."""
    url: str | None = path
    query: dict[str, Any] | None = {"per_page": PAGE_SIZE, **(params or {})}
    for _ in range(MAX_PAGES):
        if url is None:
            return
        response = _repo_request("GET", installation_id, repo, permissions, url, params=query)
        body = response.json()
        yield body[items_key] if items_key else body
        next_link = response.links.get("next")
        url, query = (next_link["url"], None) if next_link else (None, None)


def _repo_path(repo: str, suffix: str = "") -> str:
    owner, name = repo.split("/", 1)
    return f"/repos/{_url_segment(owner)}/{_url_segment(name)}{suffix}"


class UnsafeUrlPath(ValueError):
    """A file path or branch name that could name another API route once in a URL."""


def _url_segments(path: str) -> str:
    """``path`` as URL path segments, each percent-encoded (``?``, ``#``, ``%`` included).

    Empty, ``.`` and ``..`` segments are refused: a URL normaliser would fold them into another
    route (``a/../../../../user``). No file or branch in git can have such a segment.
    """
    return "/".join(_url_segment(segment, path) for segment in path.split("/"))


def _url_segment(value: str, whole: str | None = None) -> str:
    """One URL path segment (a login, a ref, a sha), percent-encoded; '/' included."""
    if value in ("", ".", ".."):
        raise UnsafeUrlPath(f"{whole or value!r} has an empty, '.' or '..' segment")
    return quote(value, safe="")


def _trim(text: str, limit: int = GITHUB_TEXT_LIMIT) -> str:
    if len(text) <= limit:
        return text
    note = "\n\n… (truncated)"
    return text[: limit - len(note)] + note
