"""Git over smart HTTP on 127.0.0.1, as GitHub serves it: ``git http-backend`` behind Basic auth.

Every request must carry ``Authorization: Basic base64("x-access-token:<token>")`` with the token
the test set; anything else gets 401 (and GitHub's ``WWW-Authenticate`` challenge). Every
request is recorded (``calls``), including those refused, and ``fail_next`` makes the next
requests fail (a status such as 503, a dropped connection, a hang) like the other fakes.

``GitRepository`` builds bare repositories under the server's root from plain file mappings.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from tests.fakes.recording_http import Failure, RecordedCall, RecordingHandler, RecordingServer

GIT_USER = "x-access-token"
_AUTHOR = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.com",
}


def _git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": "/nonexistent",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        **_AUTHOR,
        **(extra or {}),
    }


class GitRepository:
    """A bare repository at ``<root>/<owner>/<name>.git`` (created on first use), with commits
    made from file mappings."""

    def __init__(self, root: Path, full_name: str):
        self.full_name = full_name
        self.path = root / f"{full_name}.git"
        if self.path.exists():
            return
        self.path.mkdir(parents=True)
        self._git("init", "--quiet", "--bare", "--initial-branch=main", str(self.path))
        # GitHub lets clients fetch any commit reachable from a ref (pull request heads included).
        self._git("config", "uploadpack.allowReachableSHA1InWant", "true")

    def _git(self, *args: str, work_tree: Path | None = None, env: Mapping[str, str] | None = None) -> str:
        command = ["git", f"--git-dir={self.path}"]
        if work_tree is not None:
            command.append(f"--work-tree={work_tree}")
        result = subprocess.run(
            [*command, *args], cwd=work_tree, capture_output=True, text=True, env=_git_env(env), check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"git {args[0]} failed: {result.stderr}")
        return result.stdout.strip()

    def commit(
        self, files: Mapping[str, str | bytes], message: str = "commit", ref: str = "refs/heads/main"
    ) -> str:
        """Commit exactly ``files`` (the whole tree) on ``ref``; returns the commit id."""
        work = self.path.parent / f".work-{os.getpid()}-{self.path.name}"
        work.mkdir()
        try:
            for relative, content in files.items():
                target = work / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(content, bytes):
                    target.write_bytes(content)
                else:
                    target.write_text(content)
            index = {"GIT_INDEX_FILE": str(self.path / f"index-{os.getpid()}")}
            self._git("read-tree", "--empty", env=index)
            self._git("add", "--all", ".", work_tree=work, env=index)
            tree = self._git("write-tree", env=index)
            parent = self._git("rev-parse", "--verify", "--quiet", ref) if self._has(ref) else None
            sha = self._git("commit-tree", tree, "-m", message, *(["-p", parent] if parent else []))
            self._git("update-ref", ref, sha)
            return sha
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _has(self, ref: str) -> bool:
        return (
            subprocess.run(
                ["git", f"--git-dir={self.path}", "rev-parse", "--verify", "--quiet", ref],
                capture_output=True,
                env=_git_env(),
                check=False,
            ).returncode
            == 0
        )


class GitHandler(RecordingHandler):
    """Answers through ``git http-backend``, after GitHub's Basic auth check; bodies (packs) are
    not recorded."""

    fake: GitHttpServer

    def recorded_body(self, raw: bytes) -> None:
        return None

    def answer(self, call: RecordedCall, raw: bytes) -> None:
        parts = urlsplit(self.path)
        if call.headers.get("authorization") != self.fake.expected_authorization():
            self._send(
                401,
                {"WWW-Authenticate": 'Basic realm="GitHub"', "Content-Type": "text/plain"},
                b"Authentication failed\n",
            )
        else:
            self._backend(parts.path, parts.query, raw)

    def send_failure(self, failure: Failure) -> None:
        self._send(failure.status, {"Content-Type": "text/plain"}, b"injected failure\n")

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()  # the empty line after the last chunk
            return b"".join(chunks)
        return super().read_body()

    def _backend(self, path: str, query: str, body: bytes) -> None:
        env = _git_env(
            {
                "GIT_PROJECT_ROOT": str(self.fake.root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "REQUEST_METHOD": self.command,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)),
                "REMOTE_USER": GIT_USER,
                "REMOTE_ADDR": self.client_address[0],
                "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
                "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            }
        )
        result = subprocess.run(
            ["git", "http-backend"], input=body, capture_output=True, env=env, check=False
        )
        head, _, payload = result.stdout.partition(b"\r\n\r\n")
        status = 200
        headers = {}
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers[name] = value.strip()
        self._send(status, headers, payload)

    def _send(self, status: int, headers: Mapping[str, str], payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class GitHttpServer(RecordingServer):
    """Serves every repository under ``root`` at ``/<owner>/<name>.git``."""

    handler = GitHandler

    def __init__(self, root: Path, token: str, hang_seconds: float = 10.0):
        self.root = root
        self.token = token
        super().__init__(hang_seconds=hang_seconds)

    def repository(self, full_name: str) -> GitRepository:
        return GitRepository(self.root, full_name)

    def clone_url(self, full_name: str) -> str:
        return f"{self.url}/{full_name}.git"

    def expected_authorization(self) -> str:
        return "Basic " + base64.b64encode(f"{GIT_USER}:{self.token}".encode()).decode()

    def authorized_calls(self) -> list[RecordedCall]:
        expected = self.expected_authorization()
        return [call for call in self.calls if call.headers.get("authorization") == expected]
