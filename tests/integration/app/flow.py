"""Driving ``codeloop app create`` as a user would: the command in a thread, the page's form
submitted to GitHub (the fake), GitHub's redirect followed back."""

from __future__ import annotations

import socket
import stat
import threading
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import httpx

from codeloop import cli
from codeloop.adapters import env_file
from tests.fakes.github_apps import GitHubAppsFake

READY_ATTEMPTS = 200


class FormReader(HTMLParser):
    """The page's form: its action and its hidden fields, as a browser would submit them."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            self.action = values["action"] or ""
        if tag == "input" and values.get("name"):
            self.fields[values["name"] or ""] = values.get("value") or ""


@dataclass
class Run:
    """``codeloop app create`` running in a thread, as a user would run it in a terminal."""

    url: str
    thread: threading.Thread
    result: list[int]

    def exit_code(self) -> int:
        self.thread.join(timeout=60)
        assert not self.thread.is_alive()
        return self.result[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(*args: str) -> Run:
    """Run the command with ``args`` (no browser, a free port) and wait until its page answers."""
    port = free_port()
    argv = ["app", "create", "--no-browser", "--port", str(port), "--timeout-minutes", "1", *args]
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(cli.main(argv)), daemon=True)
    run = Run(f"http://127.0.0.1:{port}/", thread, result)
    thread.start()
    for _ in range(READY_ATTEMPTS):
        try:
            httpx.get(run.url, timeout=1)
            return run
        except httpx.TransportError:
            threading.Event().wait(0.05)
    raise AssertionError("the registration page never answered")


def submit_form(run: Run) -> httpx.Response:
    """What the browser does with the page: post its form to GitHub, follow GitHub's redirect back."""
    form = FormReader()
    form.feed(httpx.get(run.url).text)
    to_github = httpx.post(form.action, data=form.fields)
    assert to_github.status_code == 302
    return httpx.get(to_github.headers["location"])


def written_secrets(github: GitHubAppsFake) -> list[str]:
    credentials = github.apps[-1].credentials
    return [credentials["pem"], credentials["webhook_secret"], credentials["client_secret"]]


def assert_env_holds_the_app(path: Path, github: GitHubAppsFake) -> None:
    credentials = github.apps[-1].credentials
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert env_file.read_settings(path) == {
        "GITHUB_APP_ID": str(credentials["id"]),
        "GITHUB_APP_SLUG": credentials["slug"],
        "GITHUB_APP_PRIVATE_KEY": credentials["pem"],
        "GITHUB_WEBHOOK_SECRET": credentials["webhook_secret"],
        "GITHUB_APP_CLIENT_ID": credentials["client_id"],
        "GITHUB_APP_CLIENT_SECRET": credentials["client_secret"],
        "GITHUB_API_URL": github.url,
    }
