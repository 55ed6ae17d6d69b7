"""The dashboard in a real browser (Debian's Chromium through Playwright) through the local stack's
HTTP front, signed in through the GitHub fake's OAuth pages, over the whole loop's pieces.

A screenshot of each main view is saved under ``.artifacts/dashboard/`` (its path is printed).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codeloop.api.front import handle
from codeloop.db import store
from codeloop.db.pool import transaction
from codeloop.domain.models import Installation, NewTask, RepositoryRef, TaskType
from codeloop.local.http import serve
from codeloop.settings import reset_settings
from tests.browser import chromium
from tests.e2e.conftest import REPO, Loop
from tests.e2e.test_loop import FIXED, STILL_BROKEN, start_fix

ARTIFACTS = Path(__file__).resolve().parents[2] / ".artifacts" / "dashboard"
OTHER_REPO = "octo/secret"
OTHER_INSTALLATION = 8


class Dashboard:
    def __init__(self, loop: Loop, base: str):
        self.loop = loop
        self.github = loop.github
        self.base = base
        self.other = self.github.add_repo(OTHER_REPO, installation_id=OTHER_INSTALLATION)
        with transaction() as conn:
            store.upsert_installation(conn, Installation(id=OTHER_INSTALLATION, account_login="octo"))
            store.upsert_repository(
                conn, RepositoryRef(id=self.other.id, full_name=OTHER_REPO, default_branch="main"), OTHER_INSTALLATION
            )

    def seed_task(self, full_name: str, title: str, task_type: TaskType = TaskType.FEATURE) -> str:
        with transaction() as conn:
            repository = store.get_repository_by_name(conn, full_name)
            task = store.create_task(
                conn, NewTask(repository_id=repository.id, title=title, type=task_type, requested_by="alice")
            )
        return str(task.id)

    def sign_in(self, browser: Any, login: str, roles: dict[str, str]) -> Any:
        """A new browser context signed in as ``login`` through GitHub's (fake) OAuth pages, with
        JavaScript off: the dashboard needs none."""
        self.github.add_user(login, roles)
        self.github.sign_in_as(login)
        page = browser.new_context(java_script_enabled=False).new_page()
        page.goto(f"{self.base}/app/")
        assert "/app/signin" in page.url
        page.click("#signin")
        page.wait_for_url(re.compile(r".*/app/tasks$"))
        assert page.inner_text("#who") == login
        return page

    def task_ids(self, page: Any) -> list[str]:
        return [link.get_attribute("href").rsplit("/", 1)[1] for link in page.locator("#tasks tbody a").all()]


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


@pytest.fixture
def dashboard(loop: Loop, monkeypatch: pytest.MonkeyPatch) -> Iterator[Dashboard]:
    client_id, client_secret = loop.github.add_oauth_client()
    monkeypatch.setenv("GITHUB_APP_CLIENT_ID", client_id)
    monkeypatch.setenv("GITHUB_APP_CLIENT_SECRET", client_secret)
    reset_settings()
    server = serve(handle, port=0)
    try:
        yield Dashboard(loop, f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()


def test_sign_in_with_github_shows_only_what_the_user_can_access(dashboard: Dashboard):
    docs = dashboard.seed_task(REPO, "Write the docs", TaskType.DOCS)
    fix = dashboard.seed_task(REPO, "Fix the parser", TaskType.BUG_FIX)
    secret = dashboard.seed_task(OTHER_REPO, "Secret work")

    with chromium() as browser:
        page = dashboard.sign_in(browser, "alice", {REPO: "write"})
        assert set(dashboard.task_ids(page)) == {docs, fix}
        assert "Secret work" not in page.content()

        page.select_option("#f-type", "docs")
        page.click("#apply")
        page.wait_for_url(re.compile(r".*type=docs.*"))
        assert dashboard.task_ids(page) == [docs]
        screenshot(page, "tasks")

        # Another repository's task: a 404, and a filter on it finds nothing.
        assert page.goto(f"{dashboard.base}/app/tasks/{secret}").status == 404
        page.goto(f"{dashboard.base}/app/tasks?repository={OTHER_REPO}")
        assert dashboard.task_ids(page) == []

        # A POST without the CSRF token, or with a wrong one, is refused and changes nothing.
        refused = page.request.post(f"{dashboard.base}/app/tasks/{fix}/cancel", form={})
        wrong = page.request.post(f"{dashboard.base}/app/tasks/{fix}/cancel", form={"csrf": "forged"})
        assert (refused.status, wrong.status) == (403, 403)
        assert "CSRF" in refused.text()

        # A reader sees the task but may not act on it, even with a valid token.
        reader = dashboard.sign_in(browser, "rita", {REPO: "read"})
        reader.goto(f"{dashboard.base}/app/tasks/{fix}")
        assert reader.locator("#cancel").count() == 0
        token = reader.get_attribute("input[name=csrf]", "value")
        assert reader.request.post(f"{dashboard.base}/app/tasks/{fix}/cancel", form={"csrf": token}).status == 403

    with transaction() as conn:
        assert store.get_task(conn, fix).status == "pending"
        stored = conn.execute("select * from dashboard_sessions").fetchall()
    github = dashboard.github
    assert [c.query["client_id"][0] for c in github.calls_to("GET", "/login/oauth/authorize")] == [
        github.oauth_clients and next(iter(github.oauth_clients))
    ] * 2
    assert len(github.calls_to("POST", "/login/oauth/access_token")) == 2
    assert len(github.calls_to("GET", "/user/installations")) == 2
    assert len(github.calls_to("GET", r"/user/installations/\d+/repositories")) == 2
    # The user-to-server token serves the sign-in and is never stored.
    tokens = set(github.user_tokens)
    assert tokens and not any(token in repr(row) for row in stored for token in tokens)
    assert {row["login"] for row in stored} == {"alice", "rita"}


def test_a_fix_then_pass_loop_on_the_task_page(dashboard: Dashboard):
    loop = dashboard.loop
    _, run = start_fix(loop)
    agent_pr = loop.agent_opens_pull_request(run["id"], STILL_BROKEN)
    loop.pump(until=lambda: loop.task().attempt == 2 and loop.codegen.runs[run["id"]]["status"] == "ACTIVE")
    loop.agent_pushes(agent_pr, FIXED)
    loop.pump(until=lambda: loop.task_status() == "completed")
    task = loop.task()

    with chromium() as browser:
        page = dashboard.sign_in(browser, "maintainer", {REPO: "write"})
        page.click(f"a[href='/app/tasks/{task.id}']")
        page.wait_for_selector("#attempt-2")
        assert "completed" in page.inner_text("#task-status")
        # Two Codegen runs, recorded as the API reports them: no tokens, no price (no MODEL_PRICES).
        cost = page.inner_text("#task-cost")
        assert cost.startswith("unpriced (agents ") and cost.endswith("; 2 calls unpriced)")
        first, second = page.inner_text("#attempt-1"), page.inner_text("#attempt-2")
        assert "failed" in first and "test_add" in first
        assert "passed" in second
        for attempt in (first, second):
            assert "Prompt (" in attempt and "version 1" in attempt and "Check run" in attempt
        assert "agent run" in first
        steps = page.inner_text("#timeline")
        assert "ValidatePR" in steps and "DispatchCodegen" in steps
        screenshot(page, "task")
        # The agent run and check run links lead to the attempt's own.
        hrefs = [link.get_attribute("href") for link in page.locator("#attempt-1 a").all()]
        assert loop.codegen.runs[run["id"]]["web_url"] in hrefs
        first_check = next(c for c in loop.repo.check_runs.values() if c["conclusion"] == "failure")
        assert any(href.endswith(f"/runs/{first_check['id']}") or href == first_check.get("html_url") for href in hrefs)

        page.goto(f"{dashboard.base}/app/stats")
        assert "Green rate per template version" in page.content()
        assert page.locator("svg.chart").count() == 4
        screenshot(page, "stats")


def test_cancel_and_retry_from_the_dashboard_make_a_new_attempt(dashboard: Dashboard):
    loop = dashboard.loop
    start_fix(loop)
    task = loop.task()
    assert task.attempt == 1
    asked = len(agent_requests(loop))

    with chromium() as browser:
        page = dashboard.sign_in(browser, "maintainer", {REPO: "write"})
        page.goto(f"{dashboard.base}/app/tasks/{task.id}")
        press_by_keyboard(page, "#cancel")
        page.wait_for_selector("text=cancelled")
        assert loop.task_status() == "cancelled"
        press_by_keyboard(page, "#retry")
        page.wait_for_selector("text=a new attempt started")
        assert page.inner_text("#task-attempts").startswith("2")

    # The new attempt goes round the loop again: its prompt is built and the agent is asked again.
    loop.pump(until=lambda: len(agent_requests(loop)) > asked)
    with transaction() as conn:
        audit = store.task_audit(conn, task.id)
        executions = store.task_history(conn, task.id)
    assert [e.name.rsplit("-", 1)[1] for e in executions] == ["1", "2"]
    assert {"maintainer"} <= {entry.actor for entry in audit if entry.action == "status_changed"}


def press_by_keyboard(page: Any, selector: str) -> None:
    """Reach a control with Tab alone, as a keyboard user would, and press it with Enter."""
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.locator(f"{selector}:focus").count():
            page.keyboard.press("Enter")
            return
    raise AssertionError(f"{selector} cannot be reached with the keyboard")


def agent_requests(loop: Loop) -> list[Any]:
    """The agent runs codeloop asked for: new runs and resumed ones."""
    return [call for call in loop.codegen.calls if call.method == "POST"]


def test_an_operator_link_works_once_and_shows_deliveries_and_health(dashboard: Dashboard, capsys):
    from codeloop.cli import main

    loop = dashboard.loop
    start_fix(loop)
    assert main(["dashboard", "login", "--url", dashboard.base]) == 0
    link = re.search(r"http://\S+", capsys.readouterr().out).group(0)

    with chromium() as browser:
        page = browser.new_page()
        page.goto(link)
        page.wait_for_url(re.compile(r".*/app/tasks$"))
        assert "every installation" in page.inner_text("header")
        page.goto(f"{dashboard.base}/app/deliveries")
        assert "issue_comment" in page.inner_text("#deliveries")
        screenshot(page, "deliveries")
        page.click("#deliveries button >> nth=0")
        page.wait_for_selector("text=replayed")
        page.goto(f"{dashboard.base}/app/health")
        assert "codegen" in page.inner_text("#breakers")
        assert "events" in page.inner_text("#queues")
        assert "has been" in page.inner_text("#oldest")
        screenshot(page, "health")

        again = browser.new_page()
        assert again.goto(link).status == 403
    with transaction() as conn:
        replays = conn.execute(
            "select actor from audit_log where entity = 'webhook_deliveries' and action = 'replayed'"
        ).fetchall()
    assert [row["actor"] for row in replays] == ["dashboard:operator"]
