"""Every GitHub call codeloop makes, in one place.

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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import parse_qs, quote, urlsplit

from pydantic import AliasPath, BaseModel, ConfigDict, Field

from codeloop.domain.validation import Annotation  # GitHub's annotation shape, defined once
from codeloop.settings import get_settings

if TYPE_CHECKING:
    import httpx
    from githubkit import GitHub
    from githubkit.exception import GitHubException
    from githubkit.typing import RetryOption

# -- limits and policy -----------------------------------------------------------------------------

TEXT_LIMIT = 65_535  # check run summary/text and comment bodies (characters)
ANNOTATIONS_PER_REQUEST = 50
MAX_ACTIONS = 3
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
KNOWN_ROLES = ("none", "read", "triage", "write", "maintain", "admin")

Permissions = Mapping[str, Literal["read", "write"]]
M = TypeVar("M", bound=BaseModel)

# What each kind of operation needs; a caller may pass a wider set to share one token.
METADATA_READ: Permissions = {"metadata": "read"}
CONTENTS_READ: Permissions = {"contents": "read"}  # also the validation runner's clone token
CONTENTS_WRITE: Permissions = {"contents": "write"}
CHECKS_READ: Permissions = {"checks": "read"}
CHECKS_WRITE: Permissions = {"checks": "write"}
PULL_REQUESTS_READ: Permissions = {"pull_requests": "read"}
COMMENTS_READ: Permissions = {"issues": "read", "pull_requests": "read"}
COMMENTS_WRITE: Permissions = {"issues": "write", "pull_requests": "write"}
PUSH_AND_OPEN_PR: Permissions = {"contents": "write", "pull_requests": "write"}
STATUS_REPORTING: Permissions = {"checks": "write", "issues": "write", "pull_requests": "write"}


# -- errors ----------------------------------------------------------------------------------------


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


# -- models ----------------------------------------------------------------------------------------


class _FromApi(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Repository(_FromApi):
    id: int
    name: str
    full_name: str
    owner_login: str = Field(validation_alias=AliasPath("owner", "login"))
    private: bool
    fork: bool = False
    default_branch: str
    clone_url: str
    html_url: str


class PullRequest(_FromApi):
    number: int
    state: str
    title: str
    body: str | None = None
    html_url: str
    draft: bool = False
    merged: bool = False
    user_login: str = Field(validation_alias=AliasPath("user", "login"))
    head_ref: str = Field(validation_alias=AliasPath("head", "ref"))
    head_sha: str = Field(validation_alias=AliasPath("head", "sha"))
    # None when the head repository (a fork) was deleted.
    head_repo_full_name: str | None = Field(
        default=None, validation_alias=AliasPath("head", "repo", "full_name")
    )
    head_repo_clone_url: str | None = Field(
        default=None, validation_alias=AliasPath("head", "repo", "clone_url")
    )
    base_ref: str = Field(validation_alias=AliasPath("base", "ref"))
    base_sha: str = Field(validation_alias=AliasPath("base", "sha"))


class PullRequestFile(_FromApi):
    filename: str
    status: str
    additions: int
    deletions: int
    changes: int
    patch: str | None = None  # absent for binary or very large files
    previous_filename: str | None = None


class IssueComment(_FromApi):
    id: int
    body: str = ""
    html_url: str
    user_login: str = Field(validation_alias=AliasPath("user", "login"))
    user_type: str = Field(validation_alias=AliasPath("user", "type"))


class CheckRun(_FromApi):
    id: int
    name: str
    head_sha: str
    status: str
    conclusion: str | None = None
    html_url: str | None = None
    details_url: str | None = None
    external_id: str | None = None
    app_slug: str | None = Field(default=None, validation_alias=AliasPath("app", "slug"))


class CheckSuite(_FromApi):
    id: int
    head_sha: str
    status: str | None = None
    conclusion: str | None = None
    app_slug: str | None = Field(default=None, validation_alias=AliasPath("app", "slug"))


class Commit(_FromApi):
    sha: str
    message: str = Field(validation_alias=AliasPath("commit", "message"))
    author_name: str | None = Field(default=None, validation_alias=AliasPath("commit", "author", "name"))
    authored_at: datetime | None = Field(default=None, validation_alias=AliasPath("commit", "author", "date"))
    html_url: str | None = None


class TreeEntry(_FromApi):
    path: str
    type: str  # blob | tree | commit (submodule)
    mode: str | None = None  # 100644, 100755, 120000 (symlink), 040000 (tree), 160000 (submodule)
    size: int | None = None


class Tree(_FromApi):
    sha: str
    truncated: bool = False
    entries: list[TreeEntry] = Field(validation_alias="tree")


class HookDelivery(_FromApi):
    id: int
    guid: str
    delivered_at: datetime
    redelivery: bool
    status: str
    status_code: int
    event: str
    action: str | None = None
    installation_id: int | None = None
    repository_id: int | None = None


class CheckRunAction(BaseModel):
    """A button on the check run; GitHub sends a ``check_run.requested_action`` webhook on click."""

    label: str = Field(max_length=20)
    description: str = Field(max_length=40)
    identifier: str = Field(max_length=20)


class CheckRunOutput(BaseModel):
    title: str
    summary: str
    text: str | None = None
    annotations: list[Annotation] = Field(default_factory=list)


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


def _trim(text: str, limit: int = TEXT_LIMIT) -> str:
    if len(text) <= limit:
        return text
    note = "\n\n… (truncated)"
    return text[: limit - len(note)] + note


# -- people and reactions --------------------------------------------------------------------------


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


def add_reaction_to_comment(
    installation_id: int,
    repo: str,
    comment_id: int,
    content: str = "eyes",
    *,
    permissions: Permissions = COMMENTS_WRITE,
) -> None:
    _repo_request(
        "POST",
        installation_id,
        repo,
        permissions,
        _repo_path(repo, f"/issues/comments/{comment_id}/reactions"),
        json={"content": content},
    )


# -- the task's comment ----------------------------------------------------------------------------


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
        body = marker + "\n" + _trim(body, TEXT_LIMIT - len(marker) - 1)
    existing = find_comment_with_marker(installation_id, repo, issue_number, marker, permissions=permissions)
    if existing is None:
        return create_issue_comment(installation_id, repo, issue_number, body, permissions=permissions)
    if existing.body == body:
        return existing
    return update_issue_comment(installation_id, repo, existing.id, body, permissions=permissions)


# -- check runs ------------------------------------------------------------------------------------


def _output_payload(output: CheckRunOutput, annotations: Sequence[Annotation]) -> dict[str, Any]:
    payload: dict[str, Any] = {"title": _trim(output.title, 255), "summary": _trim(output.summary)}
    if output.text is not None:
        payload["text"] = _trim(output.text)
    if annotations:
        payload["annotations"] = [
            annotation.model_copy(
                update={
                    "message": _trim(annotation.message),
                    "raw_details": None if annotation.raw_details is None else _trim(annotation.raw_details),
                    "title": None if annotation.title is None else _trim(annotation.title, 255),
                }
            ).model_dump(exclude_none=True)
            for annotation in annotations
        ]
    return payload


def _annotation_batches(output: CheckRunOutput | None) -> list[list[Annotation]]:
    annotations = output.annotations if output else []
    return [
        annotations[start : start + ANNOTATIONS_PER_REQUEST]
        for start in range(0, len(annotations), ANNOTATIONS_PER_REQUEST)
    ] or [[]]


def _check_run_fields(
    status: str | None,
    conclusion: str | None,
    actions: Sequence[CheckRunAction] | None,
    details_url: str | None,
    external_id: str | None,
    started_at: datetime | None,
    completed_at: datetime | None,
) -> dict[str, Any]:
    if actions is not None and len(actions) > MAX_ACTIONS:
        raise ValueError(f"a check run takes at most {MAX_ACTIONS} actions, got {len(actions)}")
    fields: dict[str, Any] = {
        "status": status,
        "conclusion": conclusion,
        "details_url": details_url,
        "external_id": external_id,
        "started_at": started_at.isoformat() if started_at else None,
        "completed_at": completed_at.isoformat() if completed_at else None,
    }
    body = {key: value for key, value in fields.items() if value is not None}
    if actions is not None:
        body["actions"] = [action.model_dump() for action in actions]
    return body


def create_check_run(
    installation_id: int,
    repo: str,
    *,
    name: str,
    head_sha: str,
    status: Literal["queued", "in_progress", "completed"] = "queued",
    conclusion: str | None = None,
    output: CheckRunOutput | None = None,
    actions: Sequence[CheckRunAction] | None = None,
    details_url: str | None = None,
    external_id: str | None = None,
    started_at: datetime | None = None,
    completed_at: datetime | None = None,
    permissions: Permissions = CHECKS_WRITE,
) -> CheckRun:
    """Create a check run; annotations beyond the first 50 follow in PATCHes of 50."""
    body = {"name": name, "head_sha": head_sha} | _check_run_fields(
        status, conclusion, actions, details_url, external_id, started_at, completed_at
    )
    first, *rest = _annotation_batches(output)
    if output is not None:
        body["output"] = _output_payload(output, first)
    response = _repo_request(
        "POST", installation_id, repo, permissions, _repo_path(repo, "/check-runs"), json=body
    )
    run = CheckRun.model_validate(response.json())
    for batch in rest:
        run = _patch_check_run(
            installation_id, repo, run.id, {"output": _output_payload(output, batch)}, permissions
        )  # type: ignore[arg-type]
    return run


def update_check_run(
    installation_id: int,
    repo: str,
    check_run_id: int,
    *,
    name: str | None = None,
    status: Literal["queued", "in_progress", "completed"] | None = None,
    conclusion: str | None = None,
    output: CheckRunOutput | None = None,
    actions: Sequence[CheckRunAction] | None = None,
    details_url: str | None = None,
    external_id: str | None = None,
    started_at: datetime | None = None,
    completed_at: datetime | None = None,
    permissions: Permissions = CHECKS_WRITE,
) -> CheckRun:
    """Update a check run; annotations go 50 per PATCH (GitHub appends them)."""
    body = _check_run_fields(status, conclusion, actions, details_url, external_id, started_at, completed_at)
    if name is not None:
        body["name"] = name
    run: CheckRun | None = None
    for batch in _annotation_batches(output):
        if output is not None:
            body["output"] = _output_payload(output, batch)
        run = _patch_check_run(installation_id, repo, check_run_id, body, permissions)
        body = {}
    assert run is not None
    return run


def _patch_check_run(
    installation_id: int, repo: str, check_run_id: int, body: dict[str, Any], permissions: Permissions
) -> CheckRun:
    response = _repo_request(
        "PATCH",
        installation_id,
        repo,
        permissions,
        _repo_path(repo, f"/check-runs/{check_run_id}"),
        json=body,
    )
    return CheckRun.model_validate(response.json())


def list_check_runs(
    installation_id: int, repo: str, ref: str, *, permissions: Permissions = CHECKS_READ
) -> list[CheckRun]:
    return _list_for_commit(installation_id, repo, ref, "check-runs", CheckRun, permissions)


def list_check_suites(
    installation_id: int, repo: str, ref: str, *, permissions: Permissions = CHECKS_READ
) -> list[CheckSuite]:
    return _list_for_commit(installation_id, repo, ref, "check-suites", CheckSuite, permissions)


def _list_for_commit(
    installation_id: int, repo: str, ref: str, kind: str, model: type[M], permissions: Permissions
) -> list[M]:
    """Every item of ``/commits/{ref}/{kind}`` (check runs or suites), across its pages."""
    path = _repo_path(repo, f"/commits/{_url_segment(ref)}/{kind}")
    items_key = kind.replace("-", "_")
    return [
        model.model_validate(item)
        for page in _pages(installation_id, repo, permissions, path, items_key=items_key)
        for item in page
    ]


# -- repository content ----------------------------------------------------------------------------


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
    limit: int = 10,
    permissions: Permissions = CONTENTS_READ,
) -> list[Commit]:
    """The most recent commits (newest first), optionally only those touching ``path``."""
    params = {"per_page": min(limit, PAGE_SIZE)} | {k: v for k, v in {"path": path, "sha": ref}.items() if v}
    commits: list[Commit] = []
    for page in _pages(installation_id, repo, permissions, _repo_path(repo, "/commits"), params):
        commits.extend(Commit.model_validate(item) for item in page)
        if len(commits) >= limit:
            break
    return commits[:limit]


# -- pull requests ---------------------------------------------------------------------------------


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


# -- pushing files without a clone (Git Data API) --------------------------------------------------


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


# -- the App's webhook deliveries (App JWT) --------------------------------------------------------


def list_hook_deliveries(*, since: datetime | None = None, limit: int = 500) -> list[HookDelivery]:
    """The App's recent webhook deliveries, newest first, back to ``since`` (or ``limit`` of them)."""
    deliveries: list[HookDelivery] = []
    url: str | None = "/app/hook/deliveries"
    params: dict[str, Any] | None = {"per_page": PAGE_SIZE}
    while url is not None and len(deliveries) < limit:
        response = _app_request("GET", url, params=params)
        for item in response.json():
            delivery = HookDelivery.model_validate(item)
            if since is not None and delivery.delivered_at < since:
                return deliveries
            deliveries.append(delivery)
        next_link = response.links.get("next")
        url, params = (next_link["url"], None) if next_link else (None, None)
    return deliveries[:limit]


def redeliver_hook_delivery(delivery_id: int) -> None:
    """Ask GitHub to send a delivery again (it keeps its ``X-GitHub-Delivery`` guid)."""
    _app_request("POST", f"/app/hook/deliveries/{delivery_id}/attempts")


# -- merging and review comments (auto-merge, review feedback) -------------------------------------

# Merging a pull request writes the base branch (contents) and the pull request.
MERGE_PULL_REQUESTS: Permissions = {"contents": "write", "pull_requests": "write"}
ENABLE_AUTO_MERGE = """
mutation EnableAutoMerge($pullRequestId: ID!, $mergeMethod: PullRequestMergeMethod!) {
  enablePullRequestAutoMerge(input: {pullRequestId: $pullRequestId, mergeMethod: $mergeMethod}) {
    pullRequest { number autoMergeRequest { enabledAt mergeMethod } }
  }
}
"""


class MergeState(_FromApi):
    """A pull request as far as merging it is concerned (``mergeable`` is None until GitHub computed it)."""

    node_id: str
    number: int
    state: str
    merged: bool = False
    draft: bool = False
    mergeable: bool | None = None
    mergeable_state: str | None = None
    user_login: str = Field(validation_alias=AliasPath("user", "login"))
    head_ref: str = Field(validation_alias=AliasPath("head", "ref"))
    head_sha: str = Field(validation_alias=AliasPath("head", "sha"))
    head_repo_full_name: str | None = Field(
        default=None, validation_alias=AliasPath("head", "repo", "full_name")
    )


class ReviewComment(_FromApi):
    """A comment on a line of a pull request's diff (``line`` is None once the line is outdated)."""

    id: int
    body: str = ""
    path: str
    line: int | None = None
    original_line: int | None = None
    diff_hunk: str | None = None
    html_url: str | None = None
    in_reply_to_id: int | None = None
    user_login: str | None = Field(default=None, validation_alias=AliasPath("user", "login"))


class GraphQLRefused(GitHubError):
    """GitHub's GraphQL API answered with ``errors`` (it does so with HTTP 200)."""


def get_merge_state(
    installation_id: int, repo: str, number: int, *, permissions: Permissions = PULL_REQUESTS_READ
) -> MergeState:
    return MergeState.model_validate(
        _repo_request("GET", installation_id, repo, permissions, _repo_path(repo, f"/pulls/{number}")).json()
    )


def repository_allows_auto_merge(
    installation_id: int, repo: str, *, permissions: Permissions = METADATA_READ
) -> bool | None:
    """The repository's ``allow_auto_merge`` setting, or None when GitHub leaves it out."""
    data = _repo_request("GET", installation_id, repo, permissions, _repo_path(repo)).json()
    value = data.get("allow_auto_merge")
    return value if isinstance(value, bool) else None


def _graphql_url() -> str:
    """``/graphql`` on github.com; GitHub Enterprise Server serves it at ``/api/graphql`` beside ``/api/v3``."""
    base = get_settings().github_api_url.rstrip("/")
    return base.removesuffix("/v3") + "/graphql" if base.endswith("/api/v3") else base + "/graphql"


def enable_auto_merge(
    installation_id: int,
    repo: str,
    node_id: str,
    method: str,
    *,
    permissions: Permissions = MERGE_PULL_REQUESTS,
) -> None:
    """Turn on GitHub's auto-merge for a pull request (``method``: MERGE, SQUASH or REBASE).

    Raises :class:`GraphQLRefused` with GitHub's message, e.g. "Pull request Auto merge is not
    allowed for this repository" or "Pull request is in clean status".
    """
    data = _repo_request(
        "POST",
        installation_id,
        repo,
        permissions,
        _graphql_url(),
        json={"query": ENABLE_AUTO_MERGE, "variables": {"pullRequestId": node_id, "mergeMethod": method}},
    ).json()
    errors = data.get("errors") if isinstance(data, dict) else None
    if errors:
        messages = "; ".join(str(e.get("message", "")) for e in errors if isinstance(e, dict))
        raise GraphQLRefused(messages or "GraphQL error", 200)


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


def list_review_comments(
    installation_id: int, repo: str, number: int, *, permissions: Permissions = PULL_REQUESTS_READ
) -> list[ReviewComment]:
    path = _repo_path(repo, f"/pulls/{number}/comments")
    return [
        ReviewComment.model_validate(item)
        for page in _pages(installation_id, repo, permissions, path)
        for item in page
    ]


def add_reaction_to_review_comment(
    installation_id: int,
    repo: str,
    comment_id: int,
    content: str = "eyes",
    *,
    permissions: Permissions = COMMENTS_WRITE,
) -> None:
    _repo_request(
        "POST",
        installation_id,
        repo,
        permissions,
        _repo_path(repo, f"/pulls/comments/{comment_id}/reactions"),
        json={"content": content},
    )
