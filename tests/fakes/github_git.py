"""The GitHub fake that also serves its repositories over git smart HTTP, as github.com does.

Clone URLs (``<web_url>/<owner>/<name>.git``) are on the same host as the API, so the product's
clone-URL check passes as it does against GitHub. git must authenticate as ``x-access-token``
with a token the fake issued, valid for that repository with ``contents: read``; every git
request is recorded in ``calls`` like the API's.

``publish`` commits files to a real bare repository AND to the fake's API model with the same
commit id, so the pull request's head sha, its changed files and the checkout agree. A pull
request made to look like it comes from a fork: ``pull_request_from_fork``. Other Apps' check
runs: ``add_check_run``.
"""

from __future__ import annotations

import base64
import re
import subprocess
from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from tests.fakes.git_http import GIT_USER, GitRepository, _git_env
from tests.fakes.github import (
    FakeRepo,
    GitHubFake,
    _allows,
    _Answer,
    _iso,
    _now,
    _Request,
    github_fake_environment,
)

_GIT_PATH = re.compile(r"^/(?P<owner>[^/]+)/(?P<name>[^/]+)\.git/(?:info/refs|git-upload-pack)$")


class GitHubWithGit(GitHubFake):
    def __init__(self, git_root: Path, **options: Any):
        super().__init__(**options)
        self.git_root = git_root
        self.forks: dict[tuple[str, int], str] = {}  # (repo, PR number) → the fork's full name

    # -- seeding --------------------------------------------------------------------------------

    def publish(self, full_name: str, branch: str, files: Mapping[str, str], message: str = "commit") -> str:
        """Commit exactly ``files`` on ``branch`` in git and in the API model; returns the commit id."""
        repo = self.repos[full_name]
        sha = GitRepository(self.git_root, full_name).commit(files, message, ref=f"refs/heads/{branch}")
        with self._lock:
            parent = repo.refs.get(branch) or repo.refs.get(repo.default_branch)
            tree = repo.put_tree({path: repo.put_blob(content.encode()) for path, content in files.items()})
            repo.commits[sha] = {
                "tree": tree,
                "parents": [parent] if parent else [],
                "message": message,
                "date": _iso(_now()),
            }
            repo.refs[branch] = sha
        return sha

    def pull_request_from_fork(self, full_name: str, number: int, fork_full_name: str) -> None:
        self.forks[(full_name, number)] = fork_full_name

    def add_check_run(
        self,
        repo: FakeRepo,
        head_sha: str,
        name: str,
        *,
        app_slug: str = "github-actions",
        status: str = "completed",
        conclusion: str | None = "success",
    ) -> dict[str, Any]:
        """A check run of another App (GitHub Actions by default) on a commit."""
        with self._lock:
            run_id = next(self.ids)
            run = {
                "id": run_id,
                "name": name,
                "head_sha": head_sha,
                "status": status,
                "conclusion": conclusion,
                "html_url": f"{self.web_url}/{repo.full_name}/actions/runs/{run_id}",
                "details_url": None,
                "external_id": "",
                "output": {"title": None, "summary": None, "text": None},
                "app": self.app_named(app_slug),
                "pull_requests": [],
            }
            repo.check_runs[run_id] = run
        return run

    # -- serving --------------------------------------------------------------------------------

    def _pull_json(self, repo: FakeRepo, pull: dict[str, Any]) -> dict[str, Any]:
        body = super()._pull_json(repo, pull)
        fork = self.forks.get((repo.full_name, pull["number"]))
        if fork is not None:
            body["head"]["repo"] = body["head"]["repo"] | {
                "full_name": fork,
                "name": fork.split("/")[1],
                "owner": {"login": fork.split("/")[0], "id": 99, "type": "User"},
                "clone_url": f"{self.web_url}/{fork}.git",
                "fork": True,
            }
            body["head"]["label"] = f"{fork.split('/')[0]}:{pull['head']}"
        return body

    def _handle(self, request: _Request) -> _Answer:
        match = _GIT_PATH.match(request.path)
        if match is None:
            return super()._handle(request)
        full_name = f"{match['owner']}/{match['name']}"
        if not self._may_read(request.headers.get("authorization", ""), full_name):
            return _Answer(
                401, b"Authentication failed\n", {"WWW-Authenticate": 'Basic realm="GitHub"'}, "text/plain"
            )
        return self._git_backend(request)

    def _may_read(self, authorization: str, full_name: str) -> bool:
        scheme, _, credential = authorization.partition(" ")
        if scheme.lower() != "basic":
            return False
        user, _, secret = base64.b64decode(credential).decode(errors="replace").partition(":")
        token = self.tokens.get(secret)
        repo = self.repos.get(full_name)
        return (
            user == GIT_USER
            and token is not None
            and token.expires_at > _now()
            and repo is not None
            and repo.installation_id == token.installation_id
            and (token.repositories is None or repo.name in token.repositories)
            and _allows(token.permissions.get("contents"), "read")
        )

    def _git_backend(self, request: _Request) -> _Answer:
        query = "&".join(f"{name}={value}" for name, values in request.query.items() for value in values)
        env = _git_env(
            {
                "GIT_PROJECT_ROOT": str(self.git_root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "PATH_INFO": request.path,
                "QUERY_STRING": query,
                "REQUEST_METHOD": request.method,
                "CONTENT_TYPE": request.headers.get("content-type", ""),
                "CONTENT_LENGTH": str(len(request.raw_body)),
                "REMOTE_USER": GIT_USER,
                "REMOTE_ADDR": "127.0.0.1",
                "GIT_PROTOCOL": request.headers.get("git-protocol", ""),
                "HTTP_CONTENT_ENCODING": request.headers.get("content-encoding", ""),
            }
        )
        result = subprocess.run(
            ["git", "http-backend"], input=request.raw_body, capture_output=True, env=env, check=False
        )
        head, _, payload = result.stdout.partition(b"\r\n\r\n")
        status, headers, content_type = 200, {}, "application/octet-stream"
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name.lower() == "content-type":
                content_type = value.strip()
            elif name:
                headers[name] = value.strip()
        return _Answer(status, payload, headers, content_type)


def github_with_git_environment(monkeypatch: Any, git_root: Path) -> AbstractContextManager[GitHubWithGit]:
    """Start the fake (serving git from ``git_root``) and point codeloop at it."""
    return github_fake_environment(monkeypatch, GitHubWithGit, git_root=git_root)
