"""Sign-in with GitHub over plain HTTP, step by step, against the GitHub fake on a GitHub Enterprise
Server layout (API under /api/v3, sign-in pages at the host's root): only a base URL changes."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from codeloop.api.front import handle
from codeloop.db import store
from codeloop.db.pool import transaction
from codeloop.domain.models import Installation, RepositoryRef
from codeloop.local.http import serve
from codeloop.services.dashboard import access
from codeloop.settings import reset_settings
from tests.fakes.github import GitHubFake, github_fake_environment


@pytest.fixture
def front(db_url, monkeypatch) -> Iterator[tuple[GitHubFake, str]]:
    with github_fake_environment(monkeypatch, GitHubFake, api_prefix="/api/v3") as github:
        client_id, secret = github.add_oauth_client()
        monkeypatch.setenv("GITHUB_APP_CLIENT_ID", client_id)
        monkeypatch.setenv("GITHUB_APP_CLIENT_SECRET", secret)
        reset_settings()
        access.signing_key.cache_clear()
        repo = github.add_repo("octo/one", installation_id=3)
        with transaction() as conn:
            store.upsert_installation(conn, Installation(id=3, account_login="octo"))
            store.upsert_repository(conn, RepositoryRef(id=repo.id, full_name="octo/one"), 3)
        github.add_user("alice", {"octo/one": "maintain"})
        github.sign_in_as("alice")
        server = serve(handle, port=0)
        try:
            yield github, f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
            access.signing_key.cache_clear()


def start(client: httpx.Client, base: str) -> tuple[str, str]:
    """Start the sign-in: GitHub's authorize URL and the state cookie set for it."""
    started = client.get(f"{base}/app/oauth/start")
    assert started.status_code == 302
    return started.headers["location"], started.cookies["codeloop_oauth_state"]


def test_the_whole_flow_on_a_ghes_layout_ends_in_a_session(front):
    github, base = front
    with httpx.Client() as client:
        authorize, _ = start(client, base)
        assert authorize.startswith(f"{github.web_url}/login/oauth/authorize?")
        query = parse_qs(urlsplit(authorize).query)
        assert query["redirect_uri"] == [f"{base}/app/oauth/callback"]
        back = client.get(authorize)  # GitHub: the user is signed in there and approves
        assert back.status_code == 302 and back.headers["location"].startswith(f"{base}/app/oauth/callback?")
        done = client.get(back.headers["location"])
        assert (done.status_code, done.headers["location"]) == (303, "/app/tasks")
        session_cookie = next(c for c in done.headers.get_list("set-cookie") if c.startswith("codeloop_session="))
        assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie and "Secure" not in session_cookie
        assert client.get(f"{base}/app/tasks").status_code == 200
    # The API calls went under the prefix; the sign-in pages did not.
    assert [c.url_path for c in github.calls if c.path.startswith("/user")] == [
        "/api/v3/user", "/api/v3/user/installations", "/api/v3/user/installations/3/repositories"
    ]  # fmt: skip
    with transaction() as conn:
        (row,) = conn.execute("select login, repository_ids, permissions from dashboard_sessions").fetchall()
    assert (row["login"], row["permissions"]) == ("alice", {str(github.repos["octo/one"].id): "maintain"})


def test_a_callback_whose_state_is_not_the_one_started_is_refused(front):
    github, base = front
    with httpx.Client() as client:
        authorize, _ = start(client, base)
        back = client.get(authorize).headers["location"]
        forged = back.replace("state=", "state=x")
        assert client.get(forged).status_code == 403
        other = httpx.get(back)  # the right state, but not from the browser that started it
        assert other.status_code == 403
    assert not github.calls_to("POST", "/login/oauth/access_token")


def test_a_code_works_once(front):
    _, base = front
    with httpx.Client() as client:
        authorize, _ = start(client, base)
        back = client.get(authorize).headers["location"]
        assert client.get(back).status_code == 303
        again = client.get(back)
    assert again.status_code == 403 and "sign in again" in again.text


def test_behind_https_every_cookie_is_secure(front):
    _, base = front
    started = httpx.get(f"{base}/app/oauth/start", headers={"x-forwarded-proto": "https"})
    assert started.headers["set-cookie"].endswith("Secure")
    assert "redirect_uri=https%3A%2F%2F" in started.headers["location"]


def test_without_a_session_pages_redirect_to_sign_in_and_forms_are_refused(front):
    _, base = front
    page = httpx.get(f"{base}/app/health")
    assert (page.status_code, page.headers["location"]) == (303, "/app/signin")
    forged = httpx.get(f"{base}/app/tasks", cookies={"codeloop_session": "made-up.signature"})
    assert forged.status_code == 303
    assert httpx.post(f"{base}/app/signout", data={"csrf": "x"}).status_code == 403


def test_an_operator_link_works_once_and_signing_out_ends_the_session(front):
    _, base = front
    link = access.create_login_link(base)
    with httpx.Client() as client:
        assert client.get(link).status_code == 303
        assert client.get(f"{base}/app/tasks").status_code == 200
        assert httpx.get(link).status_code == 403
        csrf = client.get(f"{base}/app/tasks").text.split('name="csrf" value="')[1].split('"')[0]
        signed = client.cookies["codeloop_session"]
        assert client.post(f"{base}/app/signout", data={"csrf": csrf}).status_code == 303
    # The cookie kept from before names a session that no longer exists.
    assert httpx.get(f"{base}/app/tasks", cookies={"codeloop_session": signed}).status_code == 303
