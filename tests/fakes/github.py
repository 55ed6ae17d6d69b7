"""An HTTP fake of the GitHub REST API: real HTTP on 127.0.0.1, in-memory state, every call recorded.

It speaks the documented request and response shapes of the endpoints codeloop uses, and checks
what GitHub checks: the App JWT (RS256, the test's public key) on ``/app/...`` routes;
installation tokens on everything else, which must be unexpired, cover the repository and carry
the permission the route needs (401 / 404 / 403 otherwise); GitHub's limits (50 annotations per
request, 3 actions, 65,535-character texts). GET answers carry an ETag and honour
``If-None-Match`` with a 304. ``fail_next`` makes the next calls answer 403/429 rate limits,
5xx, hang or drop the connection.

    private_pem, public_pem = app_key_pair()
    with GitHubFake(public_key_pem=public_pem) as fake:
        repo = fake.add_repo("octo/hello", files={"README.md": "hi"})
        ...
        assert [c.path for c in fake.calls_to("POST")] == [...]

``github_fake_environment(monkeypatch)`` starts one and points codeloop's settings at it.

Sign-in with GitHub (the App's OAuth web flow) is served on the web host, outside any API prefix
(``/login/oauth/authorize`` redirects with a one-time code, ``/login/oauth/access_token`` trades
it for a user-to-server token), and the user's view on the API: ``/user``,
``/user/installations`` and ``/user/installations/{id}/repositories``. Seed with
``add_oauth_client``, ``add_user`` (the repositories a user can access, with a role each) and
``sign_in_as`` (who is signed in on GitHub's web pages).
"""

from __future__ import annotations

import base64
import difflib
import functools
import hashlib
import itertools
import json
import re
import secrets
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

ALL_PERMISSIONS = {
    "metadata": "read",
    "contents": "write",
    "checks": "write",
    "issues": "write",
    "pull_requests": "write",
}
REACTIONS = {"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"}
TEXT_LIMIT = 65_535
RATE_LIMIT = 5000
VARY = "Accept, Authorization, Cookie, X-GitHub-OTP, Accept-Encoding"


@functools.cache
def app_key_pair() -> tuple[str, str]:
    """A fresh RSA key pair (private PEM, public PEM) for this test process; never committed."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _sha(*parts: object) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()  # noqa: S324


def _blob_sha(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()  # noqa: S324


# -- recorded calls and scripted failures ----------------------------------------------------------


@dataclass(frozen=True)
class GitHubCall:
    method: str
    path: str  # without the fake's API prefix
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names, Authorization included
    body: Any  # parsed JSON, or None
    status: int = 0  # what the fake answered (0: hung or dropped)
    url_path: str = ""  # the path as received, API prefix included


@dataclass(frozen=True)
class _Fault:
    kind: str  # status | hang | drop
    status: int
    headers: dict[str, str]
    message: str
    reset_in: float | None
    path_prefix: str | None


@dataclass
class _Answer:
    status: int
    body: Any = None  # JSON-able, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=utf-8"


class GitHubApiError(Exception):
    def __init__(self, status: int, message: str, errors: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.answer = _Answer(
            status, {"message": message, "documentation_url": "https://docs.github.com/rest"}
        )
        if errors:
            self.answer.body["errors"] = errors


def _unprocessable(message: str) -> GitHubApiError:
    return GitHubApiError(
        422, "Validation Failed", [{"resource": "Fake", "code": "custom", "message": message}]
    )


# -- state -----------------------------------------------------------------------------------------


@dataclass
class IssuedToken:
    token: str
    installation_id: int
    repositories: set[str] | None  # None: every repository of the installation
    permissions: dict[str, str]
    expires_at: datetime


@dataclass
class FakeInstallation:
    id: int
    account: str
    permissions: dict[str, str]


class FakeRepo:
    """One repository: git objects (flat trees: path → blob sha), issues, comments, checks, PRs."""

    def __init__(
        self, fake: GitHubFake, repo_id: int, full_name: str, installation_id: int, default_branch: str
    ):
        self.fake = fake
        self.id = repo_id
        self.owner, self.name = full_name.split("/")
        self.full_name = full_name
        self.installation_id = installation_id
        self.default_branch = default_branch
        self.private = True
        self.languages: dict[str, int] = {"Python": 1000}
        self.collaborators: dict[str, tuple[str, str]] = {}  # login → (permission, role_name)
        # Verified email → login: GitHub links a commit to the account whose verified email wrote it.
        self.verified_emails: dict[str, str] = {}
        self.blobs: dict[str, bytes] = {}
        self.trees: dict[str, dict[str, str]] = {}
        self.tree_modes: dict[str, dict[str, str]] = {}  # tree sha → path → mode, when not 100644
        self.commits: dict[str, dict[str, Any]] = {}
        self.refs: dict[str, str] = {}  # branch → commit sha
        self.issue_numbers: set[int] = set()
        self.issues: dict[int, dict[str, str]] = {}  # number → title, body, user (pull requests: in pulls)
        self.comments: dict[int, dict[str, Any]] = {}  # id → comment (with "_issue")
        self.reactions: dict[int, list[dict[str, Any]]] = {}
        self.check_runs: dict[int, dict[str, Any]] = {}
        self.annotations: dict[int, list[dict[str, Any]]] = {}
        self.check_suites: list[dict[str, Any]] = []
        self.pulls: dict[int, dict[str, Any]] = {}
        self._numbers = itertools.count(1)
        # Merging (see "merging and review comments"): GitHub's defaults.
        self.allow_auto_merge = False
        self.listed_files_limit = 3000  # GitHub lists at most 3,000 of a pull request's files
        self.required_approving_reviews = 0
        self.review_comments: dict[int, dict[str, Any]] = {}  # id → comment (with "_pull")

    # -- git objects --------------------------------------------------------------------------------

    def put_blob(self, content: bytes) -> str:
        sha = _blob_sha(content)
        self.blobs[sha] = content
        return sha

    def put_tree(self, entries: dict[str, str], modes: dict[str, str] | None = None) -> str:
        kept = {path: mode for path, mode in (modes or {}).items() if path in entries and mode != "100644"}
        sha = _sha("tree", sorted(entries.items()), sorted(kept.items()))
        self.trees[sha] = dict(entries)
        self.tree_modes[sha] = kept
        return sha

    def put_commit(
        self, tree_sha: str, parents: list[str], message: str, author_email: str = "octo@example.com"
    ) -> str:
        sha = _sha("commit", tree_sha, parents, message, next(self.fake.ids))
        self.commits[sha] = {
            "tree": tree_sha, "parents": parents, "message": message, "date": _iso(_now()), "email": author_email,
        }  # fmt: skip
        return sha

    def commit_files(
        self,
        branch: str,
        files: dict[str, str | bytes | None],
        message: str = "Update",
        modes: dict[str, str] | None = None,
        author_email: str = "octo@example.com",
    ) -> str:
        """Commit on ``branch`` (created from the default branch if new); returns the commit sha.

        ``modes``: path → 100755 (executable) or 120000 (a symlink, whose content is its target).
        """
        parent = self.refs.get(branch) or self.refs.get(self.default_branch)
        parent_tree = self.commits[parent]["tree"] if parent else None
        entries = dict(self.trees[parent_tree]) if parent_tree else {}
        kept_modes = dict(self.tree_modes.get(parent_tree, {})) if parent_tree else {}
        for path, content in files.items():
            kept_modes.pop(path, None)
            if content is None:
                entries.pop(path, None)
            else:
                entries[path] = self.put_blob(content.encode() if isinstance(content, str) else content)
        tree = self.put_tree(entries, kept_modes | (modes or {}))
        sha = self.put_commit(tree, [parent] if parent else [], message, author_email)
        self.refs[branch] = sha
        return sha

    def resolve(self, ref: str | None) -> str | None:
        """A commit sha for a branch name, ``heads/<branch>``, or a commit sha (or unique prefix)."""
        ref = ref or self.default_branch
        ref = ref.removeprefix("refs/").removeprefix("heads/")
        if ref in self.refs:
            return self.refs[ref]
        matches = [sha for sha in self.commits if sha.startswith(ref)] if len(ref) >= 7 else []
        return matches[0] if len(matches) == 1 else None

    def files_at(self, ref: str | None) -> dict[str, str] | None:
        sha = self.resolve(ref)
        return None if sha is None else self.trees[self.commits[sha]["tree"]]

    def file_at(self, ref: str | None, path: str) -> bytes | None:
        files = self.files_at(ref)
        blob = None if files is None else files.get(path)
        return None if blob is None else self.blobs[blob]

    def mode_at(self, ref: str | None, path: str) -> str | None:
        """A file's mode at ``ref`` (100644, 100755, 120000), or None when there is no such file."""
        sha = self.resolve(ref)
        if sha is None or path not in self.trees[self.commits[sha]["tree"]]:
            return None
        return self.tree_modes[self.commits[sha]["tree"]].get(path, "100644")

    def descends_from(self, sha: str, ancestor: str) -> bool:
        pending = [sha]
        while pending:
            current = pending.pop()
            if current == ancestor:
                return True
            pending.extend(self.commits[current]["parents"])
        return False

    # -- seeding ------------------------------------------------------------------------------------

    def set_permission(self, login: str, permission: str, role_name: str | None = None) -> None:
        """``permission``: admin, write, read or none; ``role_name`` e.g. maintain, triage, or custom."""
        self.collaborators[login] = (permission, role_name or permission)

    def add_issue(self, title: str = "An issue", body: str = "", user: str = "octocat") -> int:
        number = next(self._numbers)
        self.issue_numbers.add(number)
        self.issues[number] = {"title": title, "body": body, "user": user}
        return number

    def add_comment(
        self, issue_number: int, body: str, login: str = "octocat", user_type: str = "User"
    ) -> int:
        user = {"login": login, "id": 1000 + len(login), "type": user_type}
        return self.fake._new_comment(self, issue_number, body, user, via_app=False)["id"]

    def add_review_comment(
        self,
        number: int,
        body: str,
        path: str,
        line: int,
        login: str = "octocat",
        in_reply_to: int | None = None,
    ) -> int:
        """A comment on ``line`` of ``path`` in pull request ``number``'s diff (a reply joins a thread)."""
        return _new_review_comment(self, number, body, path, line, login, in_reply_to)["id"]

    def resolve_review_thread(self, comment_id: int) -> None:
        """Mark resolved the thread that review comment ``comment_id`` opened (seen through GraphQL)."""
        self.review_comments[comment_id]["_resolved"] = True

    def add_check_suite(
        self,
        head_sha: str,
        app_slug: str = "github-actions",
        status: str = "completed",
        conclusion: str | None = "success",
    ) -> dict[str, Any]:
        suite = {
            "id": next(self.fake.ids),
            "head_branch": None,
            "head_sha": head_sha,
            "status": status,
            "conclusion": conclusion,
            "app": self.fake.app_named(app_slug),
            "created_at": _iso(_now()),
        }
        self.check_suites.append(suite)
        return suite

    def add_pull_request(
        self,
        head: str,
        base: str | None = None,
        title: str = "A change",
        user: str = "octocat",
        *,
        body: str | None = None,
        fork: str | None = None,
        fork_head_sha: str | None = None,
    ) -> int:
        """A pull request from ``head``; from the fork ``fork`` (owner/name), its head commit is
        ``fork_head_sha`` (a commit of this repository's objects, as ``refs/pull/N/head`` is)."""
        number = next(self._numbers)
        self.issue_numbers.add(number)
        self.pulls[number] = {
            "number": number,
            "head": head,
            "fork": fork,
            "fork_head_sha": fork_head_sha,
            "base": base or self.default_branch,
            "title": title,
            "body": body,
            "user": user,
            "state": "open",
            "draft": False,
            "created_at": _iso(_now()),
            "merged": False,
            "mergeable_state": "clean",  # what GitHub computed; a test sets blocked, dirty, ...
            "approvals": 0,
            "auto_merge": None,
        }
        return number

    def annotations_of(self, check_run_id: int) -> list[dict[str, Any]]:
        return self.annotations.get(check_run_id, [])

    # -- JSON shapes --------------------------------------------------------------------------------

    def json(self) -> dict[str, Any]:
        web = self.fake.web_url
        return {
            "id": self.id,
            "node_id": f"R_{self.id}",
            "name": self.name,
            "full_name": self.full_name,
            "private": self.private,
            "owner": {"login": self.owner, "id": 7000 + self.installation_id, "type": "Organization"},
            "html_url": f"{web}/{self.full_name}",
            "url": f"{self.fake.url}/repos/{self.full_name}",
            "clone_url": f"{web}/{self.full_name}.git",
            "fork": False,
            "visibility": "private" if self.private else "public",
            "archived": False,
            "default_branch": self.default_branch,
            "language": next(iter(self.languages), None),
            "allow_auto_merge": self.allow_auto_merge,
        }


# -- the server ------------------------------------------------------------------------------------

Handler = Callable[["GitHubFake", FakeRepo | None, dict[str, str], "_Request"], _Answer]


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    raw_body: bytes
    url_path: str
    token: IssuedToken | None = None
    user: str | None = None  # the login a user-to-server token belongs to

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    auth: str  # jwt | token
    needs: tuple[tuple[str, str], ...] = ()  # any one of these (permission, level)


_ROUTES: list[_Route] = []


def _route(
    method: str, pattern: str, auth: str = "token", *needs: tuple[str, str]
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        _ROUTES.append(_Route(method, re.compile(f"^{pattern}$"), handler, auth, needs))
        return handler

    return register


_REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
OAUTH_PATH = "/login/oauth/"  # on the web host, never under an API prefix
ISSUES_READ = (("issues", "read"), ("pull_requests", "read"))
ISSUES_WRITE = (("issues", "write"), ("pull_requests", "write"))


class GitHubFake:
    def __init__(
        self,
        *,
        public_key_pem: str | None = None,
        app_id: int = 4242,
        app_slug: str = "codeloop",
        api_prefix: str = "",
        hang_seconds: float = 10.0,
    ):
        self.public_key_pem = public_key_pem or app_key_pair()[1]
        self.app_id = app_id
        self.app_slug = app_slug
        self.api_prefix = api_prefix.rstrip("/")
        self.hang_seconds = hang_seconds
        self.token_lifetime = timedelta(hours=1)
        self.installations: dict[int, FakeInstallation] = {}
        self.repos: dict[str, FakeRepo] = {}
        self.tokens: dict[str, IssuedToken] = {}
        self.deliveries: list[dict[str, Any]] = []
        self.redelivered: list[int] = []
        # Sign-in with GitHub: OAuth clients (id → secret), users (login → repository → role), who is
        # signed in on the web pages, codes handed out (code → (client, login, redirect_uri)), tokens.
        self.oauth_clients: dict[str, str] = {}
        self.users: dict[str, dict[str, str]] = {}
        self.signed_in: str | None = None
        self.oauth_codes: dict[str, tuple[str, str, str]] = {}
        self.user_tokens: dict[str, str] = {}
        self.calls: list[GitHubCall] = []
        self.ids = itertools.count(100_000)
        self._faults: list[_Fault] = []
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- lifecycle ----------------------------------------------------------------------------------

    @property
    def web_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        """The API base URL: what GITHUB_API_URL should be."""
        return self.web_url + self.api_prefix

    def start(self) -> GitHubFake:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> GitHubFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- seeding ------------------------------------------------------------------------------------

    def add_installation(
        self, installation_id: int, account: str, permissions: dict[str, str] | None = None
    ) -> FakeInstallation:
        installation = FakeInstallation(installation_id, account, dict(permissions or ALL_PERMISSIONS))
        self.installations[installation_id] = installation
        return installation

    def add_repo(
        self,
        full_name: str,
        files: dict[str, str | bytes | None] | None = None,
        *,
        installation_id: int = 1,
        default_branch: str = "main",
    ) -> FakeRepo:
        if installation_id not in self.installations:
            self.add_installation(installation_id, full_name.split("/")[0])
        repo = FakeRepo(self, next(self.ids), full_name, installation_id, default_branch)
        repo.commit_files(default_branch, files or {"README.md": f"# {full_name}\n"}, "Initial commit")
        self.repos[full_name] = repo
        return repo

    def add_delivery(
        self,
        event: str = "issue_comment",
        action: str | None = "created",
        *,
        status_code: int = 200,
        guid: str | None = None,
        delivered_at: datetime | None = None,
        installation_id: int | None = 1,
        repository_id: int | None = None,
        redelivery: bool = False,
    ) -> dict[str, Any]:
        delivery = {
            "id": next(self.ids),
            "guid": guid or secrets.token_hex(16),
            "delivered_at": _iso(delivered_at or _now()),
            "redelivery": redelivery,
            "duration": 0.27,
            "status": "OK" if 200 <= status_code < 300 else "Invalid HTTP Response: " + str(status_code),
            "status_code": status_code,
            "event": event,
            "action": action,
            "installation_id": installation_id,
            "repository_id": repository_id,
            "throttled_at": None,
        }
        self.deliveries.append(delivery)
        return delivery

    def add_oauth_client(self) -> tuple[str, str]:
        """A new OAuth client of the App: (client id, client secret)."""
        client_id, secret = f"Iv1.{secrets.token_hex(8)}", secrets.token_hex(20)
        self.oauth_clients[client_id] = secret
        return client_id, secret

    def add_user(self, login: str, roles: dict[str, str]) -> None:
        """A GitHub user who can access ``roles``' repositories (full name → admin, maintain, write,
        triage or read); the collaborator permission API answers the same."""
        self.users[login] = dict(roles)
        for full_name, role in roles.items():
            base = {"maintain": "write", "triage": "read"}.get(role, role)
            self.repos[full_name].set_permission(login, base, role)

    def remove_user(self, login: str, full_name: str) -> None:
        """The user loses the repository: its listing and the collaborator permission API say so."""
        self.users.get(login, {}).pop(full_name, None)
        self.repos[full_name].collaborators.pop(login, None)

    def sign_in_as(self, login: str | None) -> None:
        """Who is signed in on GitHub's web pages (the authorize page answers for them)."""
        self.signed_in = login

    # -- scripting and inspection ------------------------------------------------------------------

    def fail_next(
        self,
        count: int,
        status: int = 500,
        *,
        kind: str = "status",
        retry_after: int | None = None,
        rate_limit_reset_in: float | None = None,
        path_prefix: str | None = None,
    ) -> None:
        """Misbehave on the next ``count`` calls (whose path starts with ``path_prefix``, if given).

        kind "status": answer ``status``. ``retry_after`` adds a Retry-After header (a secondary
        rate limit); ``rate_limit_reset_in`` answers as an exhausted primary rate limit
        (``x-ratelimit-remaining: 0``, ``x-ratelimit-reset`` that many seconds ahead).
        kind "hang": answer nothing for ``hang_seconds``; kind "drop": close the connection.
        """
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        if retry_after is not None:
            message = (
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
            )
        elif rate_limit_reset_in is not None:
            message = "API rate limit exceeded for installation."
        else:
            message = "Server Error" if status >= 500 else "Injected failure"
        fault = _Fault(kind, status, headers, message, rate_limit_reset_in, path_prefix)
        with self._lock:
            self._faults.extend([fault] * count)

    def calls_to(self, method: str | None = None, path: str | None = None) -> list[GitHubCall]:
        """Recorded calls with this method and path (a regex matched in full), in order."""
        return [
            call
            for call in list(self.calls)
            if (method is None or call.method == method) and (path is None or re.fullmatch(path, call.path))
        ]

    def clear_calls(self) -> None:
        with self._lock:
            self.calls.clear()

    def branch_files(self, full_name: str, branch: str) -> dict[str, str]:
        """The text of every file on a branch: what a push left there."""
        repo = self.repos[full_name]
        files = repo.files_at(branch) or {}
        return {path: repo.blobs[sha].decode() for path, sha in files.items()}

    # -- serving ------------------------------------------------------------------------------------

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.path_prefix is None or path.startswith(fault.path_prefix):
                    return self._faults.pop(index)
        return None

    def _handle(self, request: _Request) -> _Answer:
        for route in _ROUTES:
            if route.method != request.method or not (match := route.pattern.match(request.path)):
                continue
            params = {name: unquote(value) for name, value in match.groupdict().items()}
            with self._lock:
                try:
                    repo = self._authorize(route, params, request)
                    answer = route.handler(self, repo, params, request)
                except GitHubApiError as exc:
                    return exc.answer
            return answer
        return GitHubApiError(404, "Not Found").answer

    def _authorize(self, route: _Route, params: dict[str, str], request: _Request) -> FakeRepo | None:
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        if route.auth == "web":  # GitHub's web pages: the browser's own session, or the client's secret
            return None
        if route.auth == "user":
            request.user = self.user_tokens.get(credential) if scheme.lower() in ("token", "bearer") else None
            if request.user is None:
                raise GitHubApiError(401, "Bad credentials")
            return None
        if route.auth == "jwt":
            self._verify_jwt(credential if scheme.lower() == "bearer" else "")
            return None
        if route.auth == "graphql":  # the repository is found from the node ids in the query
            token = self.tokens.get(credential) if scheme.lower() in ("token", "bearer") else None
            if token is None or token.expires_at <= _now():
                raise GitHubApiError(401, "Bad credentials")
            request.token = token
            return None
        token = self.tokens.get(credential) if scheme.lower() in ("token", "bearer") else None
        if token is None or token.expires_at <= _now():
            raise GitHubApiError(401, "Bad credentials")
        request.token = token
        repo = self.repos.get(f"{params.get('owner')}/{params.get('repo')}")
        if (
            repo is None
            or repo.installation_id != token.installation_id
            or (token.repositories is not None and repo.name not in token.repositories)
        ):
            raise GitHubApiError(404, "Not Found")
        granted = [name for name, level in route.needs if _allows(token.permissions.get(name), level)]
        if route.needs and not granted:
            raise GitHubApiError(403, "Resource not accessible by integration")
        return repo

    def _verify_jwt(self, credential: str) -> None:
        import jwt

        try:
            claims = jwt.decode(
                credential,
                self.public_key_pem,
                algorithms=["RS256"],
                options={"require": ["iat", "exp", "iss"]},
                leeway=60,
            )
        except jwt.PyJWTError as exc:
            raise GitHubApiError(401, f"A JSON web token could not be decoded ({exc})") from None
        if str(claims["iss"]) != str(self.app_id):
            raise GitHubApiError(401, "'Issuer' claim ('iss') must be the App's id")
        if claims["exp"] - claims["iat"] > 600 + 60:
            raise GitHubApiError(401, "'Expiration time' claim ('exp') is too far in the future")

    def _rate_headers(self, request: _Request, counted: bool) -> dict[str, str]:
        used = sum(
            1
            for call in self.calls
            if call.headers.get("authorization") == request.headers.get("authorization")
        )
        used = used if counted else max(used - 1, 0)
        return {
            "X-RateLimit-Limit": str(RATE_LIMIT),
            "X-RateLimit-Remaining": str(max(RATE_LIMIT - used, 0)),
            "X-RateLimit-Reset": str(int(time.time()) + 3600),
            "X-RateLimit-Used": str(used),
            "X-RateLimit-Resource": "core",
        }

    def _fault_answer(self, fault: _Fault) -> _Answer:
        headers = dict(fault.headers)
        if fault.reset_in is not None:
            headers |= {
                "X-RateLimit-Limit": str(RATE_LIMIT),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(int(time.time() + fault.reset_in)),
                "X-RateLimit-Used": str(RATE_LIMIT),
            }
        return _Answer(
            fault.status,
            {"message": fault.message, "documentation_url": "https://docs.github.com/rest"},
            headers,
        )

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else headers and body in two writes cost a 40 ms delayed ACK

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                path = parts.path
                if fake.api_prefix and not path.startswith(OAUTH_PATH):  # outside the prefix: 404
                    path = (
                        path.removeprefix(fake.api_prefix) if path.startswith(fake.api_prefix + "/") else "/-"
                    )
                request = _Request(
                    self.command,
                    path,
                    parse_qs(parts.query),
                    {name.lower(): value for name, value in self.headers.items()},
                    body,
                    raw,
                    parts.path,
                )
                fault = fake._take_fault(path)
                if fault is not None and fault.kind in ("hang", "drop"):
                    fake._record(request, 0)
                    if fault.kind == "hang":
                        fake._stopping.wait(fake.hang_seconds)
                    else:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                answer = fake._fault_answer(fault) if fault else fake._handle(request)
                self._reply(request, answer)

            def _reply(self, request: _Request, answer: _Answer) -> None:
                payload = (
                    answer.body
                    if isinstance(answer.body, bytes)
                    else (b"" if answer.body is None else json.dumps(answer.body).encode())
                )
                headers = dict(answer.headers)
                status = answer.status
                if request.method == "GET" and status == 200:
                    etag = f'W/"{hashlib.sha256(payload).hexdigest()}"'
                    headers |= {
                        "ETag": etag,
                        "Cache-Control": "private, max-age=60, s-maxage=60",
                        "Vary": VARY,
                    }
                    if etag in [tag.strip() for tag in request.headers.get("if-none-match", "").split(",")]:
                        status, payload = 304, b""
                with fake._lock:
                    fake._record(request, status)
                    headers = fake._rate_headers(request, counted=status != 304) | headers
                self.send_response(status)
                if status != 304:
                    self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("X-GitHub-Request-Id", secrets.token_hex(8).upper())
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        return RequestHandler

    def _record(self, request: _Request, status: int) -> None:
        with self._lock:
            self.calls.append(
                GitHubCall(
                    request.method,
                    request.path,
                    request.query,
                    request.headers,
                    request.body,
                    status,
                    request.url_path,
                )
            )

    # -- shared builders ----------------------------------------------------------------------------

    def _bot(self) -> dict[str, Any]:
        return {"login": f"{self.app_slug}[bot]", "id": 90_000 + self.app_id, "type": "Bot"}

    def _app(self) -> dict[str, Any]:
        return {"id": self.app_id, "slug": self.app_slug, "name": self.app_slug}

    def app_named(self, slug: str) -> dict[str, Any]:
        """The ``app`` object of a check suite or run: this App for its own slug, else another
        App (GitHub Actions' real id, or a made-up one that stays the same for a slug)."""
        if slug == self.app_slug:
            return self._app()
        other_id = 15368 if slug == "github-actions" else 100_000 + zlib.crc32(slug.encode()) % 900_000
        return {"id": other_id, "slug": slug, "name": slug}

    def _new_comment(
        self, repo: FakeRepo, issue_number: int, body: str, user: dict[str, Any], via_app: bool
    ) -> dict[str, Any]:
        comment_id = next(self.ids)
        now = _iso(_now())
        comment = {
            "id": comment_id,
            "node_id": f"IC_{comment_id}",
            "url": f"{self.url}/repos/{repo.full_name}/issues/comments/{comment_id}",
            "html_url": f"{self.web_url}/{repo.full_name}/issues/{issue_number}#issuecomment-{comment_id}",
            "issue_url": f"{self.url}/repos/{repo.full_name}/issues/{issue_number}",
            "body": body,
            "user": user,
            "created_at": now,
            "updated_at": now,
            "author_association": "NONE" if via_app else "MEMBER",
            "performed_via_github_app": self._app() if via_app else None,
            "_issue": issue_number,
        }
        repo.comments[comment_id] = comment
        return comment

    def _page(
        self, request: _Request, items: list[Any], default_per_page: int = 30
    ) -> tuple[list[Any], dict[str, str]]:
        per_page = min(int(request.arg("per_page", str(default_per_page))), 100)
        page = int(request.arg("page", "1"))
        last = max((len(items) + per_page - 1) // per_page, 1)
        links = []

        def link(number: int, rel: str) -> str:
            query = {name: values[0] for name, values in request.query.items()} | {
                "page": number,
                "per_page": per_page,
            }
            return f'<{self.url}{request.path}?{urlencode(query)}>; rel="{rel}"'

        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links += [link(1, "first"), link(page - 1, "prev")]
        headers = {"Link": ", ".join(links)} if links else {}
        return items[(page - 1) * per_page : page * per_page], headers

    def _pull_json(self, repo: FakeRepo, pull: dict[str, Any]) -> dict[str, Any]:
        number = pull["number"]
        return {
            "id": 500_000 + number,
            "node_id": f"PR_{repo.id}_{number}",
            "number": number,
            "state": pull["state"],
            "title": pull["title"],
            "body": pull["body"],
            "draft": pull["draft"],
            "merged": pull["merged"],
            "mergeable": None
            if pull["merged"]
            else {"dirty": False, "unknown": None}.get(pull["mergeable_state"], True),
            "mergeable_state": pull["mergeable_state"],
            "auto_merge": pull["auto_merge"],
            "changed_files": len(self._pull_changes(repo, pull)),
            "html_url": f"{self.web_url}/{repo.full_name}/pull/{number}",
            "url": f"{self.url}/repos/{repo.full_name}/pulls/{number}",
            "user": {
                "login": pull["user"],
                "id": 1000 + len(pull["user"]),
                "type": "Bot" if pull["user"].endswith("[bot]") else "User",
            },
            "head": {
                "ref": pull["head"],
                "sha": _head_commit(repo, pull),
                "repo": _fork_json(repo, pull["fork"]) if pull["fork"] else repo.json(),
                "label": _head_label(repo, pull),
            },
            "base": {
                "ref": pull["base"],
                "sha": repo.refs.get(pull["base"]),
                "repo": repo.json(),
                "label": f"{repo.owner}:{pull['base']}",
            },
            "created_at": pull["created_at"],
        }

    def _pull_changes(self, repo: FakeRepo, pull: dict[str, Any]) -> list[dict[str, Any]]:
        before = repo.files_at(pull["base"]) or {}
        after = repo.files_at(_head_commit(repo, pull)) or {}
        changes = []
        for path in sorted(set(before) | set(after)):
            if before.get(path) == after.get(path):
                continue
            old = repo.blobs[before[path]].decode(errors="replace").splitlines() if path in before else []
            new = repo.blobs[after[path]].decode(errors="replace").splitlines() if path in after else []
            diff = list(difflib.unified_diff(old, new, lineterm="", n=3))[2:]
            changes.append(
                {
                    "sha": after.get(path) or before[path],
                    "filename": path,
                    "status": "added"
                    if path not in before
                    else "removed"
                    if path not in after
                    else "modified",
                    "additions": sum(1 for line in diff if line.startswith("+")),
                    "deletions": sum(1 for line in diff if line.startswith("-")),
                    "changes": sum(1 for line in diff if line[:1] in "+-"),
                    "patch": "\n".join(diff),
                }
            )
        return changes

    def _check_run_json(self, repo: FakeRepo, run: dict[str, Any]) -> dict[str, Any]:
        public = {key: value for key, value in run.items() if not key.startswith("_")}
        public["output"] = dict(run["output"]) | {
            "annotations_count": len(repo.annotations_of(run["id"])),
            "annotations_url": f"{self.url}/repos/{repo.full_name}/check-runs/{run['id']}/annotations",
        }
        return public


def _head_commit(repo: FakeRepo, pull: dict[str, Any]) -> str | None:
    return pull["fork_head_sha"] if pull["fork"] else repo.refs.get(pull["head"])


def _head_label(repo: FakeRepo, pull: dict[str, Any]) -> str:
    return f"{(pull['fork'] or repo.full_name).split('/')[0]}:{pull['head']}"


def _fork_json(repo: FakeRepo, fork: str) -> dict[str, Any]:
    owner, name = fork.split("/")
    return repo.json() | {
        "id": repo.id + 1_000_000,
        "name": name,
        "full_name": fork,
        "owner": {"login": owner, "id": 8000 + len(owner), "type": "User"},
        "html_url": f"{repo.fake.web_url}/{fork}",
        "url": f"{repo.fake.url}/repos/{fork}",
        "clone_url": f"{repo.fake.web_url}/{fork}.git",
        "fork": True,
    }


def _allows(granted: str | None, needed: str) -> bool:
    return granted == "write" or (granted == "read" and needed == "read")


def _ok(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> _Answer:
    return _Answer(status, body, headers or {})


# -- App routes (JWT) ------------------------------------------------------------------------------


@_route("POST", r"/app/installations/(?P<installation>\d+)/access_tokens", "jwt")
def _create_token(
    fake: GitHubFake, _repo: FakeRepo | None, params: dict[str, str], request: _Request
) -> _Answer:
    installation = fake.installations.get(int(params["installation"]))
    if installation is None:
        raise GitHubApiError(404, "Not Found")
    body = request.body or {}
    repositories = body.get("repositories")
    installed = {repo.name: repo for repo in fake.repos.values() if repo.installation_id == installation.id}
    if repositories is not None and any(name not in installed for name in repositories):
        raise GitHubApiError(
            422,
            "There is at least one repository that does not exist or is not accessible "
            "to the parent installation.",
        )
    permissions = body.get("permissions") or dict(installation.permissions)
    if any(not _allows(installation.permissions.get(name), level) for name, level in permissions.items()):
        raise GitHubApiError(422, "The permissions requested are not granted to this installation.")
    permissions = {"metadata": "read"} | permissions
    token = IssuedToken(
        "ghs_" + secrets.token_urlsafe(27),
        installation.id,
        set(repositories) if repositories is not None else None,
        permissions,
        _now() + fake.token_lifetime,
    )
    fake.tokens[token.token] = token
    shown = [installed[name].json() for name in repositories] if repositories is not None else []
    return _ok(
        {
            "token": token.token,
            "expires_at": _iso(token.expires_at),
            "permissions": permissions,
            "repository_selection": "selected" if repositories is not None else "all",
            "repositories": shown,
        },
        201,
    )


@_route("GET", r"/app/hook/deliveries", "jwt")
def _list_deliveries(
    fake: GitHubFake, _repo: FakeRepo | None, _params: dict[str, str], request: _Request
) -> _Answer:
    newest_first = sorted(fake.deliveries, key=lambda delivery: delivery["id"], reverse=True)
    cursor = request.arg("cursor")
    if cursor:
        newest_first = [delivery for delivery in newest_first if delivery["id"] < int(cursor)]
    per_page = min(int(request.arg("per_page", "30")), 100)
    page = newest_first[:per_page]
    headers = {}
    if len(newest_first) > per_page:
        query = urlencode({"per_page": per_page, "cursor": page[-1]["id"]})
        headers["Link"] = f'<{fake.url}/app/hook/deliveries?{query}>; rel="next"'
    return _ok(page, headers=headers)


@_route("POST", r"/app/hook/deliveries/(?P<delivery>\d+)/attempts", "jwt")
def _redeliver(
    fake: GitHubFake, _repo: FakeRepo | None, params: dict[str, str], _request: _Request
) -> _Answer:
    original = next((d for d in fake.deliveries if d["id"] == int(params["delivery"])), None)
    if original is None:
        raise GitHubApiError(404, "Not Found")
    fake.redelivered.append(original["id"])
    fake.add_delivery(
        original["event"],
        original["action"],
        guid=original["guid"],
        installation_id=original["installation_id"],
        repository_id=original["repository_id"],
        redelivery=True,
    )
    return _ok({}, 202)


# -- sign-in with GitHub (the App's OAuth web flow) and the user's view -----------------------------

ROLE_FLAGS = ("pull", "triage", "push", "maintain", "admin")
ROLE_RANK = {"read": 1, "triage": 2, "write": 3, "maintain": 4, "admin": 5}


@_route("GET", r"/login/oauth/authorize", "web")
def _authorize(fake: GitHubFake, _repo: FakeRepo | None, _params: dict[str, str], request: _Request) -> _Answer:
    client_id, redirect_uri, state = request.arg("client_id"), request.arg("redirect_uri"), request.arg("state")
    if client_id not in fake.oauth_clients or not redirect_uri:
        raise GitHubApiError(404, "Not Found")
    if fake.signed_in is None:
        raise GitHubApiError(401, "Sign in to GitHub to continue")
    code = secrets.token_hex(10)
    fake.oauth_codes[code] = (client_id, fake.signed_in, redirect_uri)
    query = urlencode({"code": code, **({"state": state} if state else {})})
    return _Answer(302, b"", {"Location": f"{redirect_uri}?{query}"}, "text/html; charset=utf-8")


@_route("POST", r"/login/oauth/access_token", "web")
def _access_token(fake: GitHubFake, _repo: FakeRepo | None, _params: dict[str, str], request: _Request) -> _Answer:
    form = {name: values[0] for name, values in parse_qs(request.raw_body.decode()).items()}
    issued = fake.oauth_codes.pop(form.get("code", ""), None)  # a code works once
    client_id = form.get("client_id", "")
    if fake.oauth_clients.get(client_id) is None or fake.oauth_clients[client_id] != form.get("client_secret"):
        return _ok({"error": "incorrect_client_credentials"})
    if issued is None or issued[0] != client_id or issued[2] != form.get("redirect_uri", issued[2]):
        return _ok({"error": "bad_verification_code", "error_description": "The code passed is incorrect or expired."})
    token = "ghu_" + secrets.token_urlsafe(27)
    fake.user_tokens[token] = issued[1]
    return _ok({"access_token": token, "token_type": "bearer", "scope": ""})


@_route("GET", r"/user", "user")
def _user(_fake: GitHubFake, _repo: FakeRepo | None, _params: dict[str, str], request: _Request) -> _Answer:
    return _ok({"login": request.user, "id": 1000 + len(request.user or ""), "type": "User"})


def _user_repos(fake: GitHubFake, login: str, installation_id: int | None = None) -> list[FakeRepo]:
    return [
        fake.repos[name]
        for name in fake.users.get(login, {})
        if installation_id is None or fake.repos[name].installation_id == installation_id
    ]


def _paged(request: _Request, items: list[Any], field: str) -> _Answer:
    per_page, page = min(int(request.arg("per_page", "30")), 100), int(request.arg("page", "1"))
    return _ok({"total_count": len(items), field: items[(page - 1) * per_page : page * per_page]})


@_route("GET", r"/user/installations", "user")
def _user_installations(fake: GitHubFake, _repo: FakeRepo | None, _params: dict[str, str], request: _Request) -> _Answer:
    ids = sorted({repo.installation_id for repo in _user_repos(fake, request.user or "")})
    installations = [
        {
            "id": i,
            "app_id": fake.app_id,
            "app_slug": fake.app_slug,
            "account": {"login": fake.installations[i].account, "id": 7000 + i, "type": "Organization"},
            "permissions": fake.installations[i].permissions,
        }
        for i in ids
    ]
    return _paged(request, installations, "installations")


@_route("GET", r"/user/installations/(?P<installation>\d+)/repositories", "user")
def _user_installation_repos(fake: GitHubFake, _repo: FakeRepo | None, params: dict[str, str], request: _Request) -> _Answer:
    repos = _user_repos(fake, request.user or "", int(params["installation"]))
    if not repos:
        raise GitHubApiError(404, "Not Found")
    roles = fake.users[request.user or ""]
    shown = [
        repo.json()
        | {"permissions": {flag: ROLE_RANK[roles[repo.full_name]] >= rank for rank, flag in enumerate(ROLE_FLAGS, 1)}}
        for repo in repos
    ]
    return _paged(request, shown, "repositories")


# -- repository metadata ---------------------------------------------------------------------------


@_route("GET", _REPO, "token", ("metadata", "read"))
def _get_repo(_fake: GitHubFake, repo: FakeRepo, _params: dict[str, str], _request: _Request) -> _Answer:
    return _ok(repo.json())


@_route("GET", _REPO + r"/languages", "token", ("metadata", "read"))
def _languages(_fake: GitHubFake, repo: FakeRepo, _params: dict[str, str], _request: _Request) -> _Answer:
    return _ok(dict(sorted(repo.languages.items(), key=lambda item: -item[1])))


@_route("GET", _REPO + r"/collaborators/(?P<user>[^/]+)/permission", "token", ("metadata", "read"))
def _permission(_fake: GitHubFake, repo: FakeRepo, params: dict[str, str], _request: _Request) -> _Answer:
    permission, role = repo.collaborators.get(params["user"], ("none", "none"))
    user = {"login": params["user"], "id": 1000 + len(params["user"]), "type": "User"}
    return _ok({"permission": permission, "role_name": role, "user": user})


# -- comments and reactions ------------------------------------------------------------------------


@_route("GET", _REPO + r"/issues/(?P<number>\d+)", "token", *ISSUES_READ)
def _get_issue(fake: GitHubFake, repo: FakeRepo, params: dict[str, str], _request: _Request) -> _Answer:
    """An issue, or a pull request seen as an issue (with ``pull_request``), as GitHub's REST API has it."""
    number = int(params["number"])
    if number not in repo.issue_numbers:
        raise GitHubApiError(404, "Not Found")
    facts = repo.pulls.get(number) or repo.issues.get(number) or {"title": f"Issue {number}", "user": "octocat"}
    issue = {
        "id": 50_000 + number,
        "number": number,
        "title": facts["title"],
        "body": facts.get("body"),
        "state": facts.get("state", "open"),
        "user": {"login": facts["user"], "id": 1000 + len(facts["user"]), "type": "User"},
        "url": f"{fake.url}/repos/{repo.full_name}/issues/{number}",
        "html_url": f"{fake.web_url}/{repo.full_name}/issues/{number}",
    }
    if number in repo.pulls:
        issue["pull_request"] = {
            "url": f"{fake.url}/repos/{repo.full_name}/pulls/{number}",
            "html_url": f"{fake.web_url}/{repo.full_name}/pull/{number}",
        }
    return _ok(issue)


@_route("GET", _REPO + r"/issues/(?P<number>\d+)/comments", "token", *ISSUES_READ)
def _list_comments(fake: GitHubFake, repo: FakeRepo, params: dict[str, str], request: _Request) -> _Answer:
    number = int(params["number"])
    if number not in repo.issue_numbers:
        raise GitHubApiError(404, "Not Found")
    comments = [
        _public(c) for c in sorted(repo.comments.values(), key=lambda c: c["id"]) if c["_issue"] == number
    ]
    page, headers = fake._page(request, comments)
    return _ok(page, headers=headers)


@_route("POST", _REPO + r"/issues/(?P<number>\d+)/comments", "token", *ISSUES_WRITE)
def _create_comment(fake: GitHubFake, repo: FakeRepo, params: dict[str, str], request: _Request) -> _Answer:
    number = int(params["number"])
    if number not in repo.issue_numbers:
        raise GitHubApiError(404, "Not Found")
    body = _comment_body(request)
    return _ok(_public(fake._new_comment(repo, number, body, fake._bot(), via_app=True)), 201)


@_route("PATCH", _REPO + r"/issues/comments/(?P<comment>\d+)", "token", *ISSUES_WRITE)
def _update_comment(fake: GitHubFake, repo: FakeRepo, params: dict[str, str], request: _Request) -> _Answer:
    comment = repo.comments.get(int(params["comment"]))
    if comment is None:
        raise GitHubApiError(404, "Not Found")
    if comment["user"]["login"] != fake._bot()["login"]:
        raise GitHubApiError(403, "Resource not accessible by integration")
    comment["body"] = _comment_body(request)
    comment["updated_at"] = _iso(_now())
    return _ok(_public(comment))


@_route("POST", _REPO + r"/issues/comments/(?P<comment>\d+)/reactions", "token", *ISSUES_WRITE)
def _react(fake: GitHubFake, repo: FakeRepo, params: dict[str, str], request: _Request) -> _Answer:
    comment_id = int(params["comment"])
    if comment_id not in repo.comments:
        raise GitHubApiError(404, "Not Found")
    content = (request.body or {}).get("content")
    if content not in REACTIONS:
        raise _unprocessable(f"content must be one of {sorted(REACTIONS)}")
    existing = repo.reactions.setdefault(comment_id, [])
    for reaction in existing:
        if reaction["content"] == content and reaction["user"]["login"] == fake._bot()["login"]:
            return _ok(reaction)
    reaction = {"id": next(fake.ids), "content": content, "user": fake._bot(), "created_at": _iso(_now())}
    existing.append(reaction)
    return _ok(reaction, 201)


def _comment_body(request: _Request) -> str:
    body = (request.body or {}).get("body")
    if not isinstance(body, str) or not body:
        raise _unprocessable("body is required")
    if len(body) > TEXT_LIMIT:
        raise _unprocessable("body is too long (maximum is 65536 characters)")
    return body


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if not key.startswith("_")}


# -- check runs and suites -------------------------------------------------------------------------


def _validate_check_run(body: dict[str, Any], creating: bool) -> None:
    if creating and (not body.get("name") or not body.get("head_sha")):
        raise _unprocessable("name and head_sha are required")
    if body.get("status") == "completed" and not body.get("conclusion"):
        raise _unprocessable("conclusion is required when status is completed")
    if len(body.get("actions") or []) > 3:
        raise _unprocessable("actions: no more than 3 are allowed")
    for action in body.get("actions") or []:
        if (
            len(action.get("label", "")) > 20
            or len(action.get("description", "")) > 40
            or len(action.get("identifier", "")) > 20
        ):
            raise _unprocessable("actions: label ≤ 20, description ≤ 40, identifier ≤ 20 characters")
    output = body.get("output")
    if output is None:
        return
    if not output.get("title") or not output.get("summary"):
        raise _unprocessable("output.title and output.summary are required")
    if len(output["summary"]) > TEXT_LIMIT or len(output.get("text") or "") > TEXT_LIMIT:
        raise _unprocessable("output.summary and output.text are limited to 65535 characters")
    annotations = output.get("annotations") or []
    if len(annotations) > 50:
        raise _unprocessable("output.annotations: no more than 50 per request")
    for annotation in annotations:
        missing = {"path", "start_line", "end_line", "annotation_level", "message"} - set(annotation)
        if missing or annotation["annotation_level"] not in ("notice", "warning", "failure"):
            raise _unprocessable(f"annotation invalid (missing {sorted(missing)})")


def _apply_check_run(fake: GitHubFake, repo: FakeRepo, run: dict[str, Any], body: dict[str, Any]) -> None:
    for key in (
        "name",
        "status",
        "conclusion",
        "details_url",
        "external_id",
        "started_at",
        "completed_at",
        "actions",
    ):
        if key in body:
            run[key] = body[key]
    if body.get("conclusion"):
        run["status"] = "completed"
        run["completed_at"] = run.get("completed_at") or _iso(_now())
    if "output" in body:
        output = body["output"]
        run["output"] = {"title": output["title"], "summary": output["summary"], "text": output.get("text")}
        repo.annotations.setdefault(run["id"], []).extend(output.get("annotations") or [])


@_route("POST", _REPO + r"/check-runs", "token", ("checks", "write"))
def _create_check_run(
    fake: GitHubFake, repo: FakeRepo, _params: dict[str, str], request: _Request
) -> _Answer:
    body = request.body or {}
    _validate_check_run(body, creating=True)
    suite = next(
        (
            s
            for s in repo.check_suites
            if s["head_sha"] == body["head_sha"] and s["app"]["slug"] == fake.app_slug
        ),
        None,
    ) or repo.add_check_suite(body["head_sha"], fake.app_slug, "queued", None)
    run_id = next(fake.ids)
    run = {
        "id": run_id,
        "node_id": f"CR_{run_id}",
        "name": body["name"],
        "head_sha": body["head_sha"],
        "status": body.get("status", "queued"),
        "conclusion": None,
        "external_id": body.get("external_id", ""),
        "details_url": body.get("details_url"),
        "url": f"{fake.url}/repos/{repo.full_name}/check-runs/{run_id}",
        "html_url": f"{fake.web_url}/{repo.full_name}/runs/{run_id}",
        "started_at": body.get("started_at") or _iso(_now()),
        "completed_at": None,
        "output": {"title": None, "summary": None, "text": None},
        "check_suite": {"id": suite["id"]},
        "app": fake._app(),
        "pull_requests": [],
    }
    _apply_check_run(fake, repo, run, body)
    repo.check_runs[run_id] = run
    return _ok(fake._check_run_json(repo, run), 201)


@_route("PATCH", _REPO + r"/check-runs/(?P<run>\d+)", "token", ("checks", "write"))
def _update_check_run(fake: GitHubFake, repo: FakeRepo, params: dict[str, str], request: _Request) -> _Answer:
    run = repo.check_runs.get(int(params["run"]))
    if run is None:
        raise GitHubApiError(404, "Not Found")
    body = request.body or {}
    _validate_check_run(body | {"conclusion": body.get("conclusion") or run["conclusion"]}, creating=False)
    _apply_check_run(fake, repo, run, body)
    return _ok(fake._check_run_json(repo, run))


@_route("GET", _REPO + r"/commits/(?P<ref>[^/]+)/check-runs", "token", ("checks", "read"))
def _list_check_runs(fake: GitHubFake, repo: FakeRepo, params: dict[str, str], request: _Request) -> _Answer:
    sha = repo.resolve(params["ref"]) or params["ref"]
    runs = [fake._check_run_json(repo, run) for run in repo.check_runs.values() if run["head_sha"] == sha]
    page, headers = fake._page(request, runs)
    return _ok({"total_count": len(runs), "check_runs": page}, headers=headers)


@_route("GET", _REPO + r"/commits/(?P<ref>[^/]+)/check-suites", "token", ("checks", "read"))
def _list_check_suites(
    fake: GitHubFake, repo: FakeRepo, params: dict[str, str], request: _Request
) -> _Answer:
    sha = repo.resolve(params["ref"]) or params["ref"]
    suites = [suite for suite in repo.check_suites if suite["head_sha"] == sha]
    page, headers = fake._page(request, suites)
    return _ok({"total_count": len(suites), "check_suites": page}, headers=headers)


# -- contents, trees, commits ----------------------------------------------------------------------


@_route("GET", _REPO + r"/contents/(?P<path>.+)", "token", ("contents", "read"))
def _contents(fake: GitHubFake, repo: FakeRepo, params: dict[str, str], request: _Request) -> _Answer:
    files = repo.files_at(request.arg("ref"))
    if files is None:
        raise GitHubApiError(404, f"No commit found for the ref {request.arg('ref')}")
    path = params["path"].strip("/")
    if path not in files:
        listing = sorted({p[len(path) + 1 :].split("/")[0] for p in files if p.startswith(path + "/")})
        if not listing:
            raise GitHubApiError(404, "Not Found")
        return _ok([{"name": name, "path": f"{path}/{name}", "type": "file"} for name in listing])
    content = repo.blobs[files[path]]
    if "raw" in request.headers.get("accept", ""):
        return _Answer(200, content, content_type="application/vnd.github.raw+json; charset=utf-8")
    return _ok(
        {
            "type": "file",
            "encoding": "base64",
            "size": len(content),
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": files[path],
            "content": base64.encodebytes(content).decode(),
        }
    )


@_route("GET", _REPO + r"/git/trees/(?P<ref>.+)", "token", ("contents", "read"))
def _tree(_fake: GitHubFake, repo: FakeRepo, params: dict[str, str], request: _Request) -> _Answer:
    ref = params["ref"]
    tree_sha = ref if ref in repo.trees else None
    if tree_sha is None:
        commit = repo.resolve(ref)
        if commit is None:
            raise GitHubApiError(404, "Not Found")
        tree_sha = repo.commits[commit]["tree"]
    files = repo.trees[tree_sha]
    recursive = request.arg("recursive") not in (None, "", "0", "false")
    entries: dict[str, dict[str, Any]] = {}
    for path, blob in files.items():
        parts = path.split("/")
        for depth in range(1, len(parts)):
            directory = "/".join(parts[:depth])
            entries.setdefault(
                directory, {"path": directory, "mode": "040000", "type": "tree", "sha": _sha(directory)}
            )
        entries[path] = {
            "path": path,
            "mode": repo.tree_modes[tree_sha].get(path, "100644"),
            "type": "blob",
            "sha": blob,
            "size": len(repo.blobs[blob]),
        }
    shown = [entry for path, entry in sorted(entries.items()) if recursive or "/" not in path]
    return _ok({"sha": tree_sha, "tree": shown, "truncated": False})


@_route("GET", _REPO + r"/commits", "token", ("contents", "read"))
def _list_commits(fake: GitHubFake, repo: FakeRepo, _params: dict[str, str], request: _Request) -> _Answer:
    sha = repo.resolve(request.arg("sha"))
    if sha is None:
        raise GitHubApiError(404, "Not Found")
    path, author = request.arg("path"), request.arg("author")
    history = []
    while sha is not None:
        commit = repo.commits[sha]
        parent = commit["parents"][0] if commit["parents"] else None
        email = commit.get("email", "octo@example.com")
        login = repo.verified_emails.get(email)  # GitHub links a commit to an account by verified email
        if (path is None or _touches(
            repo, commit["tree"], repo.commits[parent]["tree"] if parent else None, path
        )) and author in (None, email, login):  # fmt: skip
            history.append(
                {
                    "sha": sha,
                    "node_id": f"C_{sha[:10]}",
                    "html_url": f"{fake.web_url}/{repo.full_name}/commit/{sha}",
                    "author": {"login": login, "type": "User"} if login else None,
                    "commit": {
                        "message": commit["message"],
                        "author": {"name": "Octo Cat", "email": email, "date": commit["date"]},
                        "committer": {
                            "name": "Octo Cat",
                            "email": "octo@example.com",
                            "date": commit["date"],
                        },
                        "tree": {"sha": commit["tree"]},
                    },
                    "parents": [{"sha": p} for p in commit["parents"]],
                }
            )
        sha = parent
    page, headers = fake._page(request, history)
    return _ok(page, headers=headers)


def _touches(repo: FakeRepo, tree: str, parent_tree: str | None, path: str) -> bool:
    after, before = repo.trees[tree], repo.trees[parent_tree] if parent_tree else {}
    changed = {p for p in set(after) | set(before) if after.get(p) != before.get(p)}
    return any(p == path or p.startswith(path.rstrip("/") + "/") for p in changed)


# -- pull requests ---------------------------------------------------------------------------------


def _pull_of(repo: FakeRepo, params: dict[str, str]) -> dict[str, Any]:
    """The pull request the route's ``number`` names; 404 as GitHub answers for an unknown one."""
    pull = repo.pulls.get(int(params["number"]))
    if pull is None:
        raise GitHubApiError(404, "Not Found")
    return pull


@_route("GET", _REPO + r"/pulls/(?P<number>\d+)", "token", ("pull_requests", "read"))
def _get_pull(fake: GitHubFake, repo: FakeRepo, params: dict[str, str], request: _Request) -> _Answer:
    pull = _pull_of(repo, params)
    if "diff" in request.headers.get("accept", ""):
        text = "".join(
            f"diff --git a/{name} b/{name}\n--- a/{name}\n+++ b/{name}\n{change['patch']}\n"
            for change in fake._pull_changes(repo, pull)
            for name in [change["filename"]]
        )
        return _Answer(200, text.encode(), content_type="application/vnd.github.diff; charset=utf-8")
    return _ok(fake._pull_json(repo, pull))


@_route("PATCH", _REPO + r"/pulls/(?P<number>\d+)", "token", ("pull_requests", "write"))
def _update_pull(fake: GitHubFake, repo: FakeRepo, params: dict[str, str], request: _Request) -> _Answer:
    pull = _pull_of(repo, params)
    body = request.body or {}
    if "title" in body and not body["title"]:
        raise _unprocessable("title cannot be blank")
    pull |= {field: body[field] for field in ("title", "body") if field in body}
    return _ok(fake._pull_json(repo, pull))


@_route("GET", _REPO + r"/pulls/(?P<number>\d+)/files", "token", ("pull_requests", "read"))
def _pull_files(fake: GitHubFake, repo: FakeRepo, params: dict[str, str], request: _Request) -> _Answer:
    pull = _pull_of(repo, params)
    page, headers = fake._page(request, fake._pull_changes(repo, pull)[: repo.listed_files_limit])
    return _ok(page, headers=headers)


@_route("GET", _REPO + r"/pulls", "token", ("pull_requests", "read"))
def _list_pulls(fake: GitHubFake, repo: FakeRepo, _params: dict[str, str], request: _Request) -> _Answer:
    state, head, base = request.arg("state", "open"), request.arg("head"), request.arg("base")
    pulls = [
        fake._pull_json(repo, pull)
        for pull in sorted(repo.pulls.values(), key=lambda p: -p["number"])
        if (state == "all" or pull["state"] == state)
        and (head is None or head == _head_label(repo, pull))
        and (base is None or base == pull["base"])
    ]
    page, headers = fake._page(request, pulls)
    return _ok(page, headers=headers)


@_route("POST", _REPO + r"/pulls", "token", ("pull_requests", "write"))
def _create_pull(fake: GitHubFake, repo: FakeRepo, _params: dict[str, str], request: _Request) -> _Answer:
    body = request.body or {}
    head, base = body.get("head", ""), body.get("base", "")
    head = head.split(":", 1)[-1]
    if not body.get("title") or head not in repo.refs or base not in repo.refs:
        raise _unprocessable("title, and existing head and base branches, are required")
    if any(
        p["head"] == head and not p["fork"] and p["base"] == base and p["state"] == "open"
        for p in repo.pulls.values()
    ):
        raise _unprocessable(f"A pull request already exists for {repo.owner}:{head}.")
    if repo.refs[head] == repo.refs[base]:
        raise _unprocessable(f"No commits between {base} and {head}")
    number = repo.add_pull_request(head, base, body["title"], user=fake._bot()["login"])
    repo.pulls[number] |= {"body": body.get("body"), "draft": bool(body.get("draft"))}
    return _ok(fake._pull_json(repo, repo.pulls[number]), 201)


# -- Git Data API ----------------------------------------------------------------------------------


@_route("GET", _REPO + r"/git/ref/heads/(?P<branch>.+)", "token", ("contents", "read"))
def _get_ref(fake: GitHubFake, repo: FakeRepo, params: dict[str, str], _request: _Request) -> _Answer:
    sha = repo.refs.get(params["branch"])
    if sha is None:
        raise GitHubApiError(404, "Not Found")
    return _ok(_ref_json(fake, repo, params["branch"], sha))


@_route("GET", _REPO + r"/git/commits/(?P<sha>[0-9a-f]{40})", "token", ("contents", "read"))
def _get_git_commit(_fake: GitHubFake, repo: FakeRepo, params: dict[str, str], _request: _Request) -> _Answer:
    commit = repo.commits.get(params["sha"])
    if commit is None:
        raise GitHubApiError(404, "Not Found")
    return _ok(_git_commit_json(params["sha"], commit))


@_route("POST", _REPO + r"/git/blobs", "token", ("contents", "write"))
def _create_blob(fake: GitHubFake, repo: FakeRepo, _params: dict[str, str], request: _Request) -> _Answer:
    body = request.body or {}
    content, encoding = body.get("content"), body.get("encoding", "utf-8")
    if not isinstance(content, str) or encoding not in ("utf-8", "base64"):
        raise _unprocessable("content (string) and encoding utf-8|base64 are required")
    sha = repo.put_blob(base64.b64decode(content) if encoding == "base64" else content.encode())
    return _ok({"sha": sha, "url": f"{fake.url}/repos/{repo.full_name}/git/blobs/{sha}"}, 201)


@_route("POST", _REPO + r"/git/trees", "token", ("contents", "write"))
def _create_tree(fake: GitHubFake, repo: FakeRepo, _params: dict[str, str], request: _Request) -> _Answer:
    body = request.body or {}
    base_tree = body.get("base_tree")
    if base_tree is not None and base_tree not in repo.trees:
        raise _unprocessable("base_tree is not a valid tree")
    entries = dict(repo.trees[base_tree]) if base_tree else {}
    modes = dict(repo.tree_modes[base_tree]) if base_tree else {}
    for entry in body.get("tree") or []:
        if entry.get("type") != "blob" or entry.get("mode") not in ("100644", "100755", "120000"):
            raise _unprocessable("only blob entries with mode 100644/100755/120000 are supported")
        modes[entry["path"]] = entry["mode"]
        if "content" in entry:
            entries[entry["path"]] = repo.put_blob(entry["content"].encode())
        elif entry.get("sha") is None:
            entries.pop(entry["path"], None)
        elif entry["sha"] in repo.blobs:
            entries[entry["path"]] = entry["sha"]
        else:
            raise _unprocessable(f"tree.sha {entry['sha']} is not a valid blob")
    sha = repo.put_tree(entries, modes)
    shown = [
        {"path": p, "mode": repo.tree_modes[sha].get(p, "100644"), "type": "blob", "sha": s}
        for p, s in sorted(entries.items())
    ]
    return _ok(
        {
            "sha": sha,
            "url": f"{fake.url}/repos/{repo.full_name}/git/trees/{sha}",
            "tree": shown,
            "truncated": False,
        },
        201,
    )


@_route("POST", _REPO + r"/git/commits", "token", ("contents", "write"))
def _create_commit(_fake: GitHubFake, repo: FakeRepo, _params: dict[str, str], request: _Request) -> _Answer:
    body = request.body or {}
    parents = body.get("parents") or []
    if (
        body.get("tree") not in repo.trees
        or any(p not in repo.commits for p in parents)
        or not body.get("message")
    ):
        raise _unprocessable("message, an existing tree and existing parents are required")
    sha = repo.put_commit(body["tree"], parents, body["message"])
    return _ok(_git_commit_json(sha, repo.commits[sha]), 201)


@_route("POST", _REPO + r"/git/refs", "token", ("contents", "write"))
def _create_ref(fake: GitHubFake, repo: FakeRepo, _params: dict[str, str], request: _Request) -> _Answer:
    body = request.body or {}
    ref, sha = body.get("ref", ""), body.get("sha")
    if not ref.startswith("refs/heads/") or sha not in repo.commits:
        raise _unprocessable("ref must be refs/heads/<branch> and sha an existing commit")
    branch = ref.removeprefix("refs/heads/")
    if branch in repo.refs:
        raise _unprocessable("Reference already exists")
    repo.refs[branch] = sha
    return _ok(_ref_json(fake, repo, branch, sha), 201)


@_route("PATCH", _REPO + r"/git/refs/heads/(?P<branch>.+)", "token", ("contents", "write"))
def _update_ref(fake: GitHubFake, repo: FakeRepo, params: dict[str, str], request: _Request) -> _Answer:
    branch, body = params["branch"], request.body or {}
    if branch not in repo.refs:
        raise GitHubApiError(422, "Reference does not exist")
    sha = body.get("sha")
    if sha not in repo.commits:
        raise _unprocessable("sha is not an existing commit")
    if not body.get("force") and not repo.descends_from(sha, repo.refs[branch]):
        raise GitHubApiError(422, "Update is not a fast forward")
    repo.refs[branch] = sha
    return _ok(_ref_json(fake, repo, branch, sha))


def _ref_json(fake: GitHubFake, repo: FakeRepo, branch: str, sha: str) -> dict[str, Any]:
    return {
        "ref": f"refs/heads/{branch}",
        "url": f"{fake.url}/repos/{repo.full_name}/git/refs/heads/{branch}",
        "object": {"sha": sha, "type": "commit"},
    }


def _git_commit_json(sha: str, commit: dict[str, Any]) -> dict[str, Any]:
    person = {"name": "Octo Cat", "email": "octo@example.com", "date": commit["date"]}
    return {
        "sha": sha,
        "message": commit["message"],
        "tree": {"sha": commit["tree"]},
        "parents": [{"sha": p} for p in commit["parents"]],
        "author": person,
        "committer": person,
    }


# -- merging and review comments -------------------------------------------------------------------


def _new_review_comment(
    repo: FakeRepo, number: int, body: str, path: str, line: int, login: str, in_reply_to: int | None
) -> dict[str, Any]:
    fake = repo.fake
    comment_id = next(fake.ids)
    now = _iso(_now())
    head = _head_commit(repo, repo.pulls[number])
    comment = {
        "id": comment_id,
        "node_id": f"PRRC_{comment_id}",
        "pull_request_review_id": next(fake.ids),
        "url": f"{fake.url}/repos/{repo.full_name}/pulls/comments/{comment_id}",
        "html_url": f"{fake.web_url}/{repo.full_name}/pull/{number}#discussion_r{comment_id}",
        "pull_request_url": f"{fake.url}/repos/{repo.full_name}/pulls/{number}",
        "diff_hunk": f"@@ -{line},1 +{line},1 @@",
        "path": path,
        "commit_id": head,
        "original_commit_id": head,
        "user": {
            "login": login,
            "id": 1000 + len(login),
            "type": "Bot" if login.endswith("[bot]") else "User",
        },
        "body": body,
        "created_at": now,
        "updated_at": now,
        "author_association": "MEMBER",
        "line": line,
        "original_line": line,
        "side": "RIGHT",
        "_pull": number,
    }
    if in_reply_to is not None:
        comment["in_reply_to_id"] = in_reply_to
    repo.review_comments[comment_id] = comment
    return comment


@_route("GET", _REPO + r"/pulls/(?P<number>\d+)/comments", "token", ("pull_requests", "read"))
def _list_review_comments(
    fake: GitHubFake, repo: FakeRepo, params: dict[str, str], request: _Request
) -> _Answer:
    number = int(params["number"])
    if number not in repo.pulls:
        raise GitHubApiError(404, "Not Found")
    items = [_public(c) for c in repo.review_comments.values() if c["_pull"] == number]
    page, headers = fake._page(request, items)
    return _ok(page, headers=headers)


@_route("POST", _REPO + r"/pulls/comments/(?P<comment>\d+)/reactions", "token", ("pull_requests", "write"))
def _react_to_review_comment(
    fake: GitHubFake, repo: FakeRepo, params: dict[str, str], request: _Request
) -> _Answer:
    comment_id = int(params["comment"])
    content = (request.body or {}).get("content")
    if comment_id not in repo.review_comments:
        raise GitHubApiError(404, "Not Found")
    if content not in REACTIONS:
        raise _unprocessable(f"content must be one of {sorted(REACTIONS)}")
    reaction = {"id": next(fake.ids), "content": content, "user": fake._bot(), "created_at": _iso(_now())}
    repo.reactions.setdefault(comment_id, []).append(reaction)
    return _ok(reaction, 201)


@_route("PUT", _REPO + r"/pulls/(?P<number>\d+)/merge", "token", ("contents", "write"))
def _merge_pull(fake: GitHubFake, repo: FakeRepo, params: dict[str, str], request: _Request) -> _Answer:
    """GitHub's checks in its order: open, head unchanged, reviews, merge state; then a merge commit."""
    pull = _pull_of(repo, params)
    body = request.body or {}
    method = body.get("merge_method", "merge")
    if method not in ("merge", "squash", "rebase"):
        raise _unprocessable("merge_method must be merge, squash or rebase")
    if pull["state"] != "open" or pull["merged"]:
        raise GitHubApiError(405, "Pull Request is not mergeable")
    head = _head_commit(repo, pull)
    if body.get("sha") and body["sha"] != head:
        raise GitHubApiError(409, "Head branch was modified. Review and try the merge again.")
    if pull["approvals"] < repo.required_approving_reviews:
        raise GitHubApiError(
            405,
            f"At least {repo.required_approving_reviews} approving review is required by reviewers "
            "with write access.",
        )
    if pull["mergeable_state"] in ("blocked", "dirty", "unknown"):
        raise GitHubApiError(405, "Pull Request is not mergeable")
    base_sha = repo.refs[pull["base"]]
    tree = repo.commits[head]["tree"]
    sha = repo.put_commit(tree, [base_sha] if method != "merge" else [base_sha, head], pull["title"])
    repo.refs[pull["base"]] = sha
    pull |= {"merged": True, "state": "closed", "merge_method": method}
    return _ok({"sha": sha, "merged": True, "message": "Pull Request successfully merged"})


def _graphql_error(message: str, kind: str, path: str) -> _Answer:
    """GraphQL answers its errors with HTTP 200, ``data`` null at the failing field."""
    return _ok({"data": {path: None}, "errors": [{"type": kind, "path": [path], "message": message}]})


@_route("POST", r"/graphql", "graphql", ("pull_requests", "write"))
def _graphql(fake: GitHubFake, _repo: FakeRepo | None, _params: dict[str, str], request: _Request) -> _Answer:
    """Three documents: ``enablePullRequestAutoMerge`` (variables ``pullRequestId``, ``mergeMethod``
    and ``expectedHeadOid``), ``disablePullRequestAutoMerge`` (variable ``pullRequestId``) and a
    pull request's ``reviewThreads`` (variables ``owner``, ``name``, ``number``)."""
    body = request.body if isinstance(request.body, dict) else {}
    query, variables = str(body.get("query", "")), body.get("variables") or {}
    if "reviewThreads" in query:
        return _graphql_review_threads(fake, variables, request)
    if "disablePullRequestAutoMerge" in query:
        return _graphql_disable_auto_merge(fake, variables, request)
    field_name = "enablePullRequestAutoMerge"
    if field_name not in query:
        return _ok(
            {"errors": [{"message": "This fake answers enablePullRequestAutoMerge and reviewThreads only"}]}
        )
    target = _writable_pull_request(fake, variables, request, field_name)
    if not isinstance(target, tuple):
        return target
    repo, pull = target
    method = variables.get("mergeMethod", "MERGE")
    if method not in ("MERGE", "SQUASH", "REBASE"):
        return _ok(
            {
                "errors": [
                    {
                        "message": f"Variable $mergeMethod of type PullRequestMergeMethod! was provided invalid value {method!r}"
                    }
                ]
            }
        )
    if not repo.allow_auto_merge:
        return _graphql_error(
            "Pull request Auto merge is not allowed for this repository", "UNPROCESSABLE", field_name
        )
    if pull["state"] != "open" or pull["merged"]:
        return _graphql_error("Pull request is closed", "UNPROCESSABLE", field_name)
    expected_head = variables.get("expectedHeadOid")
    if expected_head is not None and expected_head != _head_commit(repo, pull):
        return _graphql_error("Head sha didn't match expected head sha", "UNPROCESSABLE", field_name)
    if pull["mergeable_state"] == "clean":  # GitHub will not wait for what is already there
        return _graphql_error("Pull request is in clean status", "UNPROCESSABLE", field_name)
    pull["auto_merge"] = {
        "enabled_by": fake._bot(),
        "merge_method": method.lower(),
        "commit_title": None,
        "commit_message": None,
    }
    enabled = {"enabledAt": _iso(_now()), "mergeMethod": method}
    return _ok(
        {"data": {field_name: {"pullRequest": {"number": pull["number"], "autoMergeRequest": enabled}}}}
    )


def _writable_pull_request(
    fake: GitHubFake, variables: dict[str, Any], request: _Request, field_name: str
) -> tuple[FakeRepo, dict[str, Any]] | _Answer:
    """The pull request a mutation's ``pullRequestId`` names, or GitHub's error: NOT_FOUND for a
    node the token cannot see, FORBIDDEN without pull_requests: write."""
    token = request.token
    assert token is not None
    found = [
        (repo, pull)
        for repo in fake.repos.values()
        for pull in repo.pulls.values()
        if f"PR_{repo.id}_{pull['number']}" == variables.get("pullRequestId")
    ]
    if (
        not found
        or found[0][0].installation_id != token.installation_id
        or (token.repositories is not None and found[0][0].name not in token.repositories)
    ):
        message = f"Could not resolve to a node with the global id of '{variables.get('pullRequestId')}'"
        return _graphql_error(message, "NOT_FOUND", field_name)
    if not _allows(token.permissions.get("pull_requests"), "write"):
        return _graphql_error("Resource not accessible by integration", "FORBIDDEN", field_name)
    return found[0]


def _graphql_disable_auto_merge(fake: GitHubFake, variables: dict[str, Any], request: _Request) -> _Answer:
    """``disablePullRequestAutoMerge(input: {pullRequestId})``: auto-merge off for an open pull
    request (one whose auto-merge is already off stays off)."""
    field_name = "disablePullRequestAutoMerge"
    target = _writable_pull_request(fake, variables, request, field_name)
    if not isinstance(target, tuple):
        return target
    _repo, pull = target
    if pull["state"] != "open" or pull["merged"]:
        return _graphql_error("Pull request is closed", "UNPROCESSABLE", field_name)
    pull["auto_merge"] = None
    return _ok({"data": {field_name: {"pullRequest": {"number": pull["number"], "autoMergeRequest": None}}}})


def _graphql_review_threads(fake: GitHubFake, variables: dict[str, Any], request: _Request) -> _Answer:
    """``repository(owner, name) { pullRequest(number) { reviewThreads { nodes {...} } } }`` from the
    stored review comments: a comment without ``in_reply_to_id`` opens a thread, replies join it."""
    token = request.token
    assert token is not None
    repo = fake.repos.get(f"{variables.get('owner')}/{variables.get('name')}")
    if (
        repo is None
        or repo.installation_id != token.installation_id
        or (token.repositories is not None and repo.name not in token.repositories)
    ):
        message = f"Could not resolve to a Repository with the name '{variables.get('owner')}/{variables.get('name')}'."
        return _graphql_error(message, "NOT_FOUND", "repository")
    if not _allows(token.permissions.get("pull_requests"), "read"):
        return _graphql_error("Resource not accessible by integration", "FORBIDDEN", "repository")
    number = variables.get("number")
    if number not in repo.pulls:
        message = f"Could not resolve to a PullRequest with the number of {number}."
        return _ok(
            {
                "data": {"repository": {"pullRequest": None}},
                "errors": [{"type": "NOT_FOUND", "path": ["repository", "pullRequest"], "message": message}],
            }
        )
    comments = [c for c in repo.review_comments.values() if c["_pull"] == number]
    threads: dict[int, list[dict[str, Any]]] = {}
    for comment in comments:
        threads.setdefault(comment.get("in_reply_to_id") or comment["id"], []).append(comment)
    nodes = [
        {
            "isResolved": bool(repo.review_comments[root].get("_resolved")),
            "isOutdated": False,
            "path": thread[0]["path"],
            "line": thread[0]["line"],
            "originalLine": thread[0]["original_line"],
            "comments": {
                "nodes": [
                    {
                        "author": {"login": c["user"]["login"]},
                        "body": c["body"],
                        "url": c["html_url"],
                        "diffHunk": c["diff_hunk"],
                    }
                    for c in thread
                ]
            },
        }
        for root, thread in threads.items()
    ]
    return _ok({"data": {"repository": {"pullRequest": {"reviewThreads": {"nodes": nodes}}}}})


# -- wiring codeloop to a fake ---------------------------------------------------------------------


@contextmanager
def github_fake_environment(
    monkeypatch: Any, fake_class: Callable[..., GitHubFake] = GitHubFake, **fake_options: Any
) -> Iterator[Any]:
    """Start a fake (of ``fake_class``) and point codeloop at it: GITHUB_API_URL, the App's id,
    private key and slug."""
    from codeloop.adapters import github
    from codeloop.settings import reset_settings

    private_pem, public_pem = app_key_pair()
    with fake_class(public_key_pem=public_pem, **fake_options) as fake:
        monkeypatch.setenv("GITHUB_API_URL", fake.url)
        monkeypatch.setenv("GITHUB_APP_ID", str(fake.app_id))
        monkeypatch.setenv("GITHUB_APP_PRIVATE_KEY", private_pem)
        reset_settings()
        github.reset_clients()
        try:
            yield fake
        finally:
            github.reset_clients()
            reset_settings()
