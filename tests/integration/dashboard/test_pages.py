"""The dashboard's pages over plain HTTP: keyset pages of tasks, and what a user (not an operator)
is shown on the Health page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from codeloop.api.front import handle
from codeloop.db import store
from codeloop.db.pool import transaction
from codeloop.domain.dashboard import PAGE_SIZE
from codeloop.domain.models import Installation, NewTask, RepositoryRef
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


def test_a_user_sees_no_sweeper_work_and_only_their_own_oldest_task(base):
    with transaction() as conn:
        store.create_task(conn, NewTask(repository_id=2, title="theirs"))
        mine = store.create_task(conn, NewTask(repository_id=1, title="mine"))
        cookie = access._new_session("alice", operator=False, repositories=[])
        conn.execute("update dashboard_sessions set repository_ids = '{1}'")
    page = httpx.get(f"{base}/app/health", cookies={"codeloop_session": cookie})
    assert page.status_code == 200
    assert "What the sweeper ended" not in page.text
    assert f"/app/tasks/{mine.id}" in page.text
