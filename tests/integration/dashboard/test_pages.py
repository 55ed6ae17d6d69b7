"""The dashboard's pages over plain HTTP: keyset pages of tasks, what a user (not an operator) is
shown on the Health page, and links that try to cross the pages' boundaries."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx
import pytest

from codeloop.adapters.github_oauth import UserRepository
from codeloop.api.front import handle
from codeloop.db import store
from codeloop.db.pool import transaction
from codeloop.domain.dashboard import PAGE_SIZE, TaskCursor
from codeloop.domain.delivery_log import Cursor
from codeloop.domain.models import DeliveryStatus, Installation, NewTask, RepositoryRef
from codeloop.local.http import serve
from codeloop.services.dashboard import access

LINK = re.compile(r'href="/app/tasks/([0-9a-f-]{36})"')


@pytest.fixture
def base(db_url) -> Iterator[str]:
    access.signing_key.cache_clear()
    with transaction() as conn:
        store.upsert_installation(conn, Installation(id=1, account_login="octo"))
        for repo_id in (1, 2):
            store.upsert_repository(conn, RepositoryRef(id=repo_id, full_name=f"octo/r{repo_id}"), 1)
    server = serve(handle, port=0)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        access.signing_key.cache_clear()


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    return html.split('name="csrf" value="')[1].split('"')[0]


def user(*repository_ids: int) -> str:
    """The session cookie of a user GitHub said can read ``repository_ids``."""
    return access._new_session(
        "alice",
        operator=False,
        repositories=[
            UserRepository(id=n, full_name=f"octo/r{n}", installation_id=1, permission="read") for n in repository_ids
        ],
    )


@contextmanager
def operator(base: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base) as client:
        assert client.get(access.create_login_link(base)).status_code == 303
        yield client


def test_tasks_come_in_pages_newest_first_without_repeats_or_gaps(base):
    with transaction() as conn:
        made = [store.create_task(conn, NewTask(repository_id=1 + n % 2, title=f"task {n}")).id for n in range(60)]
    with operator(base) as client:
        first = client.get("/app/tasks?repository=")
        ids = LINK.findall(first.text)
        older = re.search(r'id="next" href="([^"]+)"', first.text).group(1).replace("&amp;", "&")
        second = client.get(older)
    rest = LINK.findall(second.text)
    assert len(ids) == PAGE_SIZE and len(rest) == 60 - PAGE_SIZE
    assert sorted(ids + rest) == sorted(str(t) for t in made)
    assert 'id="next"' not in second.text


def test_a_filtered_page_keeps_its_filter_on_the_next_page(base):
    with transaction() as conn:
        for n in range(PAGE_SIZE + 5):
            store.create_task(conn, NewTask(repository_id=1, title=f"one {n}"))
            store.create_task(conn, NewTask(repository_id=2, title=f"two {n}"))
    with operator(base) as client:
        first = client.get("/app/tasks", params={"repository": "octo/r2"})
        older = re.search(r'id="next" href="([^"]+)"', first.text).group(1).replace("&amp;", "&")
        second = client.get(older)
    assert "repository=octo%2Fr2" in older
    assert "one " not in first.text + second.text
    assert len(LINK.findall(second.text)) == 5


def test_each_filter_returns_exactly_the_tasks_that_match_it(base):
    """Status, actor (whatever its case) and a time window [since, until) each narrow the list to
    the tasks they name, no more and no fewer."""
    seeded = {  # title: (status, requested_by, created_at)
        "a": ("failed", "Alice", "2026-03-01T10:00:00+00:00"),
        "b": ("completed", "alice", "2026-03-02T10:00:00+00:00"),
        "c": ("failed", "bob", "2026-03-03T10:00:00+00:00"),
        "d": ("queued", "ALICE", "2026-03-04T10:00:00+00:00"),
        "e": ("completed", "carol", "2026-03-05T10:00:00+00:00"),
    }
    with transaction() as conn:
        ids = {}
        for title, (status, actor, created_at) in seeded.items():
            task = store.create_task(conn, NewTask(repository_id=1, title=title, requested_by=actor))
            conn.execute(
                "update tasks set status = %s, created_at = %s where id = %s", (status, created_at, str(task.id))
            )
            ids[title] = str(task.id)

    def listed(**params: str) -> set[str]:
        page = client.get("/app/tasks", params=params)
        assert page.status_code == 200, (params, page.text)
        return set(LINK.findall(page.text))

    def named(*titles: str) -> set[str]:
        return {ids[title] for title in titles}

    with operator(base) as client:
        assert listed() == named("a", "b", "c", "d", "e")
        assert listed(status="failed") == named("a", "c")
        assert listed(status="completed") == named("b", "e")
        assert listed(actor="aLiCe") == named("a", "b", "d")
        assert listed(actor="bob") == named("c")
        # since is inclusive, until exclusive; a time without an offset is UTC.
        assert listed(since="2026-03-02T10:00:00", until="2026-03-04T10:00:00") == named("b", "c")
        assert listed(since="2026-03-04T00:00:00") == named("d", "e")
        assert listed(until="2026-03-02T00:00:00+00:00") == named("a")
        assert listed(status="failed", actor="ALICE", since="2026-03-01T00:00:00") == named("a")


def test_a_user_sees_no_sweeper_work_and_only_their_own_oldest_task(base):
    with transaction() as conn:
        store.create_task(conn, NewTask(repository_id=2, title="theirs"))
        mine = store.create_task(conn, NewTask(repository_id=1, title="mine"))
    page = httpx.get(f"{base}/app/health", cookies={"codeloop_session": user(1)})
    assert page.status_code == 200
    assert "What the sweeper ended" not in page.text
    assert f"/app/tasks/{mine.id}" in page.text


def test_a_user_sees_no_counts_of_every_installations_work_on_the_health_page(base):
    """Breaker failures, rate windows and queue depths count the work of every installation: an
    operator's view. A user sees whether each provider takes calls."""
    with transaction() as conn:
        conn.execute(
            "insert into provider_breakers (provider, state, failures, window_started_at, opened_at)"
            " values ('codegen', 'open', 7, now(), now())"
        )
    page = httpx.get(f"{base}/app/health", cookies={"codeloop_session": user(1)})
    assert page.status_code == 200 and 'id="breakers"' in page.text
    breakers = page.text.split('id="breakers"')[1].split("</table>")[0]
    assert "codegen" in breakers and "open" in breakers and "✗ no" in breakers
    assert "Recent failures" not in breakers and 'class="failures"' not in breakers and ">7<" not in breakers
    assert 'id="rate-windows"' not in page.text and 'id="queues"' not in page.text
    with operator(base) as client:
        seen = client.get("/app/health").text
    assert "Recent failures" in seen and re.findall(r'<td class="failures">(\d+)</td>', seen) == ["7", "0"]
    assert 'id="rate-windows"' in seen and 'id="queues"' in seen


def test_a_link_cannot_make_a_page_say_what_the_dashboard_did_not(base):
    with transaction() as conn:
        task = store.create_task(conn, NewTask(repository_id=1, title="mine"))
    phish = "Your session expired: sign in again at https://evil.example"
    with httpx.Client(base_url=base, cookies={"codeloop_session": user(1)}) as client:
        for path in (f"/app/tasks/{task.id}", "/app/deliveries"):
            for forged in (phish, f"{phish}.c2lnbmF0dXJl", "\u00e9.x"):
                page = client.get(path, params={"notice": forged})
                assert page.status_code == 200 and "evil.example" not in page.text
                assert 'class="notice"' not in page.text
    with operator(base) as client:  # what the dashboard did, it still says
        csrf = csrf_of(client.get(f"/app/tasks/{task.id}").text)
        done = client.post(f"/app/tasks/{task.id}/cancel", data={"csrf": csrf}, follow_redirects=True)
    assert done.status_code == 200 and '<p class="notice" role="status">cancelled</p>' in done.text


def test_a_task_id_that_is_no_uuid_is_a_404(base):
    with operator(base) as client:
        csrf = csrf_of(client.get("/app/tasks").text)
        for mangled in ("-" * 36, "0" * 35 + "-", "00000000-0000-0000-0000-00000000000-"):
            assert client.get(f"/app/tasks/{mangled}").status_code == 404
            assert client.post(f"/app/tasks/{mangled}/cancel", data={"csrf": csrf}).status_code == 404


def test_a_nul_in_a_filter_is_a_400_not_a_500(base):
    """PostgreSQL's text cannot hold NUL: a filter with one is refused before any query."""
    with operator(base) as client:
        for path in ("/app/tasks?actor=%00", "/app/tasks?repository=octo/r1%00"):
            assert client.get(path).status_code == 400, path
        for name in ("event", "action", "repository"):
            assert client.get(f"/app/deliveries?{name}=x%00").status_code == 400, name


SCRIPT = '<script>alert(1)</script><img src=x onerror="alert(2)">'


def test_text_from_outside_is_shown_as_text_on_pages_that_send_the_strict_headers(base):
    """Titles, requesters, events and delivery errors come from issues and webhooks: escaped
    everywhere, on pages whose policy would run no script even if one slipped through."""
    with transaction() as conn:
        task = store.create_task(conn, NewTask(repository_id=1, title=SCRIPT, requested_by=SCRIPT))
        store.insert_delivery(
            conn, delivery_id="d-1", event="issue_comment", action=SCRIPT, installation_id=1,
            repository_id=1, repository_full_name="octo/r1", payload={},
        )  # fmt: skip
        store.set_delivery_status(conn, "d-1", DeliveryStatus.FAILED, error=SCRIPT)
    with httpx.Client(base_url=base, cookies={"codeloop_session": user(1)}) as client:
        pages = [client.get(path) for path in ("/app/tasks", f"/app/tasks/{task.id}", "/app/deliveries")]
        pages += [client.get("/app/tasks/00000000-0000-0000-0000-000000000000"), client.get("/app/signin")]
    assert [page.status_code for page in pages] == [200, 200, 200, 404, 200]
    for page in pages:
        assert "<script>" not in page.text and "<img" not in page.text
        policy = page.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert "script-src" not in policy and "unsafe-inline" not in policy
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["referrer-policy"] == "same-origin"
    assert pages[1].text.count("&lt;script&gt;") >= 3  # the title (twice) and who asked


def test_a_user_sees_only_their_repositories_rows_whatever_the_cursor_or_filter(base):
    """Guessed cursors and filters move within the session's repositories, and the figures on the
    Stats page count only them."""
    far = datetime(2999, 1, 1, tzinfo=UTC)
    with transaction() as conn:
        mine = store.create_task(conn, NewTask(repository_id=1, title="mine"))
        for n in range(3):
            store.create_task(conn, NewTask(repository_id=2, title=f"theirs {n}"))
            store.insert_delivery(
                conn, delivery_id=f"theirs-{n}", event="issues", action="opened", installation_id=1,
                repository_id=2, repository_full_name="octo/r2", payload={},
            )  # fmt: skip
        conn.execute("update tasks set attempt = 1")
    with httpx.Client(base_url=base, cookies={"codeloop_session": user(1)}) as client:
        tasks = client.get("/app/tasks", params={"cursor": TaskCursor(created_at=far, id=mine.id).encode()})
        narrowed = client.get("/app/tasks", params={"repository": "octo/r2", "status": "pending"})
        deliveries = client.get("/app/deliveries", params={"cursor": Cursor(received_at=far, delivery_id="~").encode()})
        stats = client.get("/app/stats")
    assert LINK.findall(tasks.text) == [str(mine.id)] and LINK.findall(narrowed.text) == []
    assert "theirs" not in tasks.text + deliveries.text
    assert "<dt>Tasks</dt><dd>1</dd>" in stats.text


def test_a_user_replays_nothing_outside_their_repositories_and_a_reader_nothing_at_all(base):
    with transaction() as conn:
        for delivery_id, repository_id in (("mine", 1), ("theirs", 2), ("installation", None)):
            store.insert_delivery(
                conn, delivery_id=delivery_id, event="issue_comment", action="created", installation_id=1,
                repository_id=repository_id, repository_full_name=repository_id and f"octo/r{repository_id}",
                payload={},
            )  # fmt: skip
    with httpx.Client(base_url=base, cookies={"codeloop_session": user(1)}) as client:
        csrf = csrf_of(client.get("/app/deliveries").text)
        answers = {d: client.post(f"/app/deliveries/{d}/replay", data={"csrf": csrf}).status_code
                   for d in ("mine", "theirs", "installation", "none-such")}  # fmt: skip
    assert answers == {"mine": 403, "theirs": 404, "installation": 404, "none-such": 404}
    with transaction() as conn:
        assert not conn.execute("select 1 from audit_log where action = 'replayed'").fetchall()
