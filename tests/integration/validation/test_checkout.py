"""Shallow checkout of one commit over real smart HTTP, with the token only in git's environment."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest

from codeloop.adapters import git_checkout
from tests.fakes.git_http import GitHttpServer
from tests.integration.validation.conftest import TOKEN

FILES = {"README.md": "# hello\n", "src/app.py": "print('hi')\n", "tests/test_app.py": "def test(): pass\n"}


def do_checkout(server: GitHttpServer, tmp_path: Path, sha: str, token: str = TOKEN, url: str | None = None):
    (tmp_path / "home").mkdir(exist_ok=True)
    return git_checkout.checkout(
        url or server.clone_url("octo/hello"),
        sha,
        token,
        tmp_path / "checkout",
        home=tmp_path / "home",
        tmp=tmp_path / "home",
        timeout_seconds=60,
    )


def every_byte_under(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def test_checks_out_exactly_the_commit_with_the_token_sent_and_stored_nowhere(git_server, tmp_path: Path):
    repo = git_server.repository("octo/hello")
    sha = repo.commit(FILES)
    checkout = do_checkout(git_server, tmp_path, sha)

    assert sorted(checkout.files) == sorted(FILES)
    assert (checkout.path / "src/app.py").read_text() == FILES["src/app.py"]
    head = subprocess.run(
        ["git", "-C", str(checkout.path), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    assert head.stdout.strip() == sha
    shallow = (checkout.path / ".git" / "shallow").read_text().split()
    assert shallow == [sha]

    assert git_server.calls, "the server saw no request"
    assert git_server.authorized_calls() == git_server.calls  # every request carried the token
    encoded = base64.b64encode(f"x-access-token:{TOKEN}".encode())
    stored = every_byte_under(checkout.path / ".git") + every_byte_under(tmp_path / "home")
    assert TOKEN.encode() not in stored and encoded not in stored
    assert "[remote" not in (checkout.path / ".git" / "config").read_text()


def test_an_older_commit_reachable_from_a_ref_can_be_checked_out(git_server, tmp_path: Path):
    repo = git_server.repository("octo/hello")
    first = repo.commit(FILES, "first")
    repo.commit({**FILES, "NEW.md": "new\n"}, "second")
    checkout = do_checkout(git_server, tmp_path, first)
    assert "NEW.md" not in checkout.files


def test_a_refused_token_is_a_clear_error_without_the_token(git_server, tmp_path: Path):
    sha = git_server.repository("octo/hello").commit(FILES)
    with pytest.raises(git_checkout.CheckoutError, match="token was not accepted") as caught:
        do_checkout(git_server, tmp_path, sha, token="ghs_wrong_token_value")
    assert "ghs_wrong_token_value" not in str(caught.value)
    assert git_server.calls and not git_server.authorized_calls()


@pytest.mark.parametrize("full_name", ["octo/hello", "octo/issue-403"])
def test_a_server_error_is_a_checkout_error(git_server, tmp_path: Path, full_name: str):
    """Not a refused token, even when "403" is in the URL git quotes (port or repository name)."""
    sha = git_server.repository(full_name).commit(FILES)
    git_server.fail_next(1, "status", status=503)
    with pytest.raises(git_checkout.CheckoutError, match="git fetch failed") as caught:
        do_checkout(git_server, tmp_path, sha, url=git_server.clone_url(full_name))
    assert "error: 503" in str(caught.value)
    assert [call.path for call in git_server.calls] == [f"/{full_name}.git/info/refs"]


def test_a_forbidden_answer_is_a_refused_token(git_server, tmp_path: Path):
    sha = git_server.repository("octo/hello").commit(FILES)
    git_server.fail_next(1, "status", status=403)
    with pytest.raises(git_checkout.CheckoutError, match="token was not accepted"):
        do_checkout(git_server, tmp_path, sha)


@pytest.mark.parametrize(
    "url",
    [
        "http://evil.example.com/octo/hello.git",
        "http://127.0.0.2:{port}/octo/hello.git",
        "http://127.0.0.1:1/octo/hello.git",
        "http://x-access-token:stolen@127.0.0.1:{port}/octo/hello.git",
        "file:///etc/octo/hello.git",
        "ssh://127.0.0.1:{port}/octo/hello.git",
        "http://127.0.0.1:{port}/",
        "-uhttp://127.0.0.1:{port}/octo/hello.git",
    ],
)
def test_clone_urls_off_the_github_host_are_refused_before_any_request(git_server, tmp_path: Path, url: str):
    sha = git_server.repository("octo/hello").commit(FILES)
    port = git_server.url.rsplit(":", 1)[1]
    with pytest.raises(git_checkout.CloneUrlRefused):
        do_checkout(git_server, tmp_path, sha, url=url.format(port=port))
    assert git_server.calls == []


def test_https_github_urls_are_accepted_for_github_com(monkeypatch: pytest.MonkeyPatch):
    from codeloop import settings

    monkeypatch.setenv("GITHUB_API_URL", "https://api.github.com")
    settings.reset_settings()
    assert git_checkout.check_clone_url("https://github.com/octo/hello.git") == "https://github.com"
    with pytest.raises(git_checkout.CloneUrlRefused):
        git_checkout.check_clone_url("http://github.com/octo/hello.git")  # no plain http for github.com
    monkeypatch.setenv("GITHUB_API_URL", "https://ghe.example.com/api/v3")
    settings.reset_settings()
    assert git_checkout.check_clone_url("https://ghe.example.com/octo/hello.git") == "https://ghe.example.com"


@pytest.mark.parametrize("sha", ["main", "abc123", "--upload-pack=touch /tmp/pwned", "A" * 40])
def test_anything_but_a_full_commit_id_is_refused(git_server, tmp_path: Path, sha: str):
    with pytest.raises(git_checkout.CheckoutError, match="not a full commit id"):
        do_checkout(git_server, tmp_path, sha)
    assert git_server.calls == []
