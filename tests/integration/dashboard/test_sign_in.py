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
from codeloop.domain.models import DeliveryStatus, Installation, NewTask, RepositoryRef
from codeloop.local.http import serve
from codeloop.services.dashboard import access
from codeloop.settings import get_settings, reset_settings
from tests.fakes.github import GitHubFake, github_fake_environment
from tests.integration.dashboard.test_pages import csrf_of


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
        csrf = csrf_of(client.get(f"{base}/app/tasks").text)
        signed = client.cookies["codeloop_session"]
        assert client.post(f"{base}/app/signout", data={"csrf": csrf}).status_code == 303
    # The cookie kept from before names a session that no longer exists.
    assert httpx.get(f"{base}/app/tasks", cookies={"codeloop_session": signed}).status_code == 303


def test_a_github_account_that_can_access_no_repository_of_the_app_is_not_signed_in(front):
    github, base = front
    github.add_user("mallory", {})  # any GitHub account may authorize the App
    github.sign_in_as("mallory")
    with httpx.Client() as client:
        authorize, _ = start(client, base)
        refused = client.get(client.get(authorize).headers["location"])
        assert refused.status_code == 403 and "no repository" in refused.text
        assert "codeloop_session" not in client.cookies
        assert client.get(f"{base}/app/health").status_code == 303
    with transaction() as conn:
        assert conn.execute("select count(*) as n from dashboard_sessions").fetchone()["n"] == 0


def test_a_reader_cannot_make_the_app_ask_github_about_a_repository(front):
    """Acting asks GitHub with the App's key for the user's role and the repository's rule; a
    user GitHub called a reader at sign-in is refused before that, however often they try."""
    github, base = front
    github.add_user("rita", {"octo/one": "read"})
    github.sign_in_as("rita")
    with transaction() as conn:
        task = store.create_task(conn, NewTask(repository_id=github.repos["octo/one"].id, title="t"))
    github.clear_calls()
    with httpx.Client(base_url=base) as client:
        authorize, _ = start(client, f"{base}")
        assert client.get(client.get(authorize).headers["location"]).status_code == 303
        csrf = csrf_of(client.get(f"/app/tasks/{task.id}").text)
        refused = [client.post(f"/app/tasks/{task.id}/{action}", data={"csrf": csrf}) for action in ("cancel", "retry")]
    assert [answer.status_code for answer in refused] == [403, 403]
    assert not [call.path for call in github.calls if call.path.startswith(("/app/", "/repos/"))]


def signed_in(client: httpx.Client, base: str) -> None:
    """Sign ``client`` in through the fake's OAuth pages as the user signed in there."""
    authorize, _ = start(client, base)
    assert client.get(client.get(authorize).headers["location"]).status_code == 303


def recheck_due() -> None:
    """Make every session's repositories as old as the recheck interval (no clock is waited on)."""
    minutes = get_settings().dashboard_access_recheck_minutes
    with transaction() as conn:
        conn.execute(
            "update dashboard_sessions set access_checked_at = access_checked_at - make_interval(secs => %s)",
            [minutes * 60],
        )


def permission_calls(github: GitHubFake) -> list[str]:
    return [call.path for call in github.calls_to("GET", r"/repos/.+/collaborators/.+/permission")]


def test_a_user_removed_from_a_repository_stops_seeing_it_at_the_next_recheck(front):
    """The token is not kept: the App asks for the user's role on each repository of the session,
    once per interval whatever the page views, and the repositories they lost leave the session."""
    github, base = front
    one = github.repos["octo/one"]
    two = github.add_repo("octo/two", installation_id=3)
    with transaction() as conn:
        store.upsert_repository(conn, RepositoryRef(id=two.id, full_name="octo/two"), 3)
        kept = store.create_task(conn, NewTask(repository_id=one.id, title="kept work"))
        lost = store.create_task(conn, NewTask(repository_id=two.id, title="lost work"))
    github.add_user("alice", {"octo/one": "maintain", "octo/two": "write"})
    pages = ("/app/tasks", f"/app/tasks/{lost.id}", f"/app/tasks/{kept.id}", "/app/stats", "/app/health")
    with httpx.Client(base_url=base) as client:
        signed_in(client, base)
        github.clear_calls()
        before = [client.get(path) for path in pages * 3]
        github.remove_user("alice", "octo/two")
        github.add_user("alice", {"octo/one": "read"})  # and made a reader of the other
        within = client.get(f"/app/tasks/{lost.id}")  # the interval has not passed: still shown
        asked_before = permission_calls(github)

        recheck_due()
        after = [client.get(path) for path in pages * 3]
        kept_page = client.get(f"/app/tasks/{kept.id}").text

    assert [page.status_code for page in before] == [200] * 15 and within.status_code == 200
    assert asked_before == []
    assert [page.status_code for page in after] == [200, 404, 200, 200, 200] * 3
    assert "lost work" not in after[0].text and "kept work" in after[0].text
    assert 'id="cancel"' not in kept_page  # a reader now: no buttons
    # One question per repository for fifteen page views, with the App's identity.
    assert sorted(permission_calls(github)) == [
        "/repos/octo/one/collaborators/alice/permission", "/repos/octo/two/collaborators/alice/permission"
    ]  # fmt: skip
    assert not [call.path for call in github.calls if call.path.startswith("/user")]
    with transaction() as conn:
        (row,) = conn.execute("select repository_ids, permissions from dashboard_sessions").fetchall()
    assert (row["repository_ids"], row["permissions"]) == ([one.id], {str(one.id): "read"})


def test_when_github_cannot_confirm_access_nothing_is_shown_and_the_next_page_asks_again(front):
    github, base = front
    with transaction() as conn:
        task = store.create_task(conn, NewTask(repository_id=github.repos["octo/one"].id, title="mine"))
    with httpx.Client(base_url=base) as client:
        signed_in(client, base)
        recheck_due()
        github.fail_next(1, 403, rate_limit_reset_in=600, path_prefix="/repos/octo/one/collaborators")
        refused = client.get(f"/app/tasks/{task.id}")
        with transaction() as conn:
            (unchanged,) = conn.execute("select repository_ids from dashboard_sessions").fetchall()
        again = client.get(f"/app/tasks/{task.id}")
    assert refused.status_code == 503 and "could not confirm your access" in refused.text
    assert "mine" not in refused.text
    assert unchanged["repository_ids"] == [github.repos["octo/one"].id]
    assert again.status_code == 200 and "mine" in again.text
    assert len(permission_calls(github)) == 2


def test_a_repository_the_app_was_removed_from_leaves_the_session_at_the_next_recheck(front):
    """GitHub refuses the App a token for it (422): nobody can confirm the user's access any more."""
    github, base = front
    two = github.add_repo("octo/two", installation_id=3)
    with transaction() as conn:
        store.upsert_repository(conn, RepositoryRef(id=two.id, full_name="octo/two"), 3)
        gone = store.create_task(conn, NewTask(repository_id=two.id, title="uninstalled work"))
    github.add_user("alice", {"octo/one": "maintain", "octo/two": "admin"})
    with httpx.Client(base_url=base) as client:
        signed_in(client, base)
        assert client.get(f"/app/tasks/{gone.id}").status_code == 200
        two.installation_id = 4  # the repository left installation 3
        recheck_due()
        after = client.get(f"/app/tasks/{gone.id}")
        listing = client.get("/app/tasks")
    assert after.status_code == 404 and listing.status_code == 200 and "uninstalled work" not in listing.text
    assert github.calls_to("POST", r"/app/installations/3/access_tokens")
    with transaction() as conn:
        (row,) = conn.execute("select repository_ids from dashboard_sessions").fetchall()
    assert row["repository_ids"] == [github.repos["octo/one"].id]


def test_actions_follow_the_repositorys_rule_for_commands(front):
    """A repository whose commands need admin: a writer is shown the buttons (write is the lowest
    rule a repository may have) but retry, cancel and replay, sent with a valid CSRF token, are
    refused when the form arrives, and nothing changes."""
    github, base = front
    repo = github.repos["octo/one"]
    repo.commit_files(repo.default_branch, {".github/codeloop.yml": "commands:\n  min_permission: admin\n"})
    github.add_user("walt", {"octo/one": "write"})
    github.sign_in_as("walt")
    with transaction() as conn:
        task = store.create_task(conn, NewTask(repository_id=repo.id, title="guarded"))
        store.insert_delivery(
            conn, delivery_id="guarded-1", event="issue_comment", action="created", installation_id=3,
            repository_id=repo.id, repository_full_name="octo/one", payload={},
        )  # fmt: skip
        store.set_delivery_status(conn, "guarded-1", DeliveryStatus.FAILED, error="boom")

    def state() -> tuple[object, ...]:
        with transaction() as conn:
            return (
                store.get_task(conn, task.id),
                store.task_audit(conn, task.id),
                conn.execute("select * from webhook_deliveries where delivery_id = 'guarded-1'").fetchone(),
                conn.execute("select count(*) as n from webhook_deliveries").fetchone()["n"],
            )

    before = state()
    with httpx.Client(base_url=base) as client:
        signed_in(client, base)
        csrf = csrf_of(client.get(f"/app/tasks/{task.id}").text)
        answers = [
            client.post(f"/app/tasks/{task.id}/retry", data={"csrf": csrf}),
            client.post(f"/app/tasks/{task.id}/cancel", data={"csrf": csrf}),
            client.post("/app/deliveries/guarded-1/replay", data={"csrf": csrf}),
        ]
    assert [answer.status_code for answer in answers] == [403, 403, 403]
    assert all("permission for commands that start work" in answer.text for answer in answers)
    assert state() == before
    # The refusal came from the repository's rule: GitHub was asked for walt's role there.
    assert github.calls_to("GET", r"/repos/octo/one/collaborators/walt/permission")
