"""One run of GitHub's App manifest flow, served on 127.0.0.1 (Probot's ``setup`` flow, in Python).

1. ``GET /`` shows a page whose form posts the manifest (and a random ``state``) to GitHub's
   new-App page for the user or an organization.
2. GitHub creates the App and sends the browser to ``/callback?code=...&state=...``.
3. A callback whose state is not this run's is refused and changes nothing. Otherwise the code is
   traded for the App's credentials, which ``store`` writes (``.env`` or a stack's secrets).

The run ends with the first answer that carries the right state, created or refused. Secrets
never reach a page or a log; pages are not cached and send no Referer (the URL holds the code).
"""

from __future__ import annotations

import hmac
import html
import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from codeloop.adapters.github_manifest import ManifestConversionError, convert_manifest_code
from codeloop.domain.app_manifest import (
    APP_EVENTS,
    APP_PERMISSIONS,
    AppCredentials,
    build_manifest,
    install_url,
    new_app_url,
)

CALLBACK_PATH = "/callback"

# Writes the credentials somewhere; returns where, in words ("/path/.env (mode 0600)").
Store = Callable[[AppCredentials], str]


class StoreError(RuntimeError):
    """The credentials could not be written; the message says what happened."""


@dataclass(frozen=True)
class AppRequest:
    """What to register, and on which GitHub."""

    api_url: str
    web_url: str
    name: str
    homepage_url: str
    webhook_url: str
    org: str | None = None
    public: bool = False


@dataclass(frozen=True)
class Outcome:
    credentials: AppCredentials | None = None
    stored_in: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Page:
    status: int
    title: str
    body: str  # HTML, already escaped


class Registration:
    def __init__(self, request: AppRequest, store: Store, *, port: int = 0):
        self.request = request
        self.state = secrets.token_urlsafe(32)
        self.outcome: Outcome | None = None
        self._store = store
        self._finished = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,), daemon=True)

    # -- lifecycle --------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    @property
    def redirect_url(self) -> str:
        return self.url.rstrip("/") + CALLBACK_PATH

    def start(self) -> Registration:
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> Outcome | None:
        """The outcome once GitHub has answered, or None if ``timeout`` seconds passed first."""
        self._finished.wait(timeout)
        return self.outcome

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- pages ------------------------------------------------------------------------------------

    def manifest(self) -> dict[str, Any]:
        return build_manifest(
            name=self.request.name,
            homepage_url=self.request.homepage_url,
            webhook_url=self.request.webhook_url,
            redirect_url=self.redirect_url,
            public=self.request.public,
        )

    def form_page(self) -> Page:
        action = f"{new_app_url(self.request.web_url, self.request.org)}?{urlencode({'state': self.state})}"
        owner = f"the organization {self.request.org}" if self.request.org else "your account"
        permissions = "".join(
            f"<li>{html.escape(permission.title)}: {permission.level}</li>"
            for permission in APP_PERMISSIONS.values()
        )
        events = ", ".join(html.escape(event) for event in APP_EVENTS)
        body = f"""
<p>This registers the GitHub App <b>{html.escape(self.request.name)}</b> for {html.escape(owner)} on
{html.escape(self.request.web_url)}. GitHub lets you change its name before it is created.</p>
<p>Webhooks go to <code>{html.escape(self.request.webhook_url)}</code>.</p>
<p>Repository permissions:</p><ul>{permissions}</ul>
<p>Events: {events}.</p>
<form id="register" action="{html.escape(action)}" method="post">
  <input type="hidden" name="manifest" value="{html.escape(json.dumps(self.manifest()))}">
  <input type="hidden" name="state" value="{html.escape(self.state)}">
  <button type="submit">Create the GitHub App on GitHub</button>
</form>"""
        return Page(200, "Register codeloop's GitHub App", body)

    def callback(self, query: dict[str, list[str]]) -> Page:
        presented = (query.get("state") or [""])[0]
        if not hmac.compare_digest(presented.encode(), self.state.encode()):
            return Page(
                403,
                "Refused",
                "<p>This answer does not carry this registration's state, so it is not for this run of "
                "<code>codeloop app create</code>. Nothing was written.</p>",
            )
        code = (query.get("code") or [""])[0]
        if not code:
            return Page(
                400, "Refused", "<p>GitHub's answer has no <code>code</code>. Nothing was written.</p>"
            )
        with self._lock:
            if self.outcome is not None:
                return Page(409, "Already done", "<p>This registration has finished; see the terminal.</p>")
            page = self._finish(code)
        self._finished.set()
        return page

    def _finish(self, code: str) -> Page:
        try:
            credentials = convert_manifest_code(self.request.api_url, code)
        except ManifestConversionError as exc:
            self.outcome = Outcome(error=str(exc))
            return Page(400, "Not created", f"<p>{html.escape(str(exc))}</p>")
        try:
            stored_in = self._store(credentials)
        except StoreError as exc:
            message = (
                f"GitHub created the App {credentials.slug} (id {credentials.id}), but its credentials "
                f"could not be written: {exc}. Generate a new private key in the App's settings, "
                "or delete the App and run codeloop app create again."
            )
            self.outcome = Outcome(credentials=credentials, error=message)
            return Page(500, "Not saved", f"<p>{html.escape(message)}</p>")
        self.outcome = Outcome(credentials=credentials, stored_in=stored_in)
        install = install_url(self.request.web_url, credentials.slug)
        return Page(
            200,
            "GitHub App created",
            f"<p>The GitHub App <b>{html.escape(credentials.slug)}</b> (id {credentials.id}) is "
            f"created; its credentials are in {html.escape(stored_in)}.</p>"
            f'<p>Now <a id="install" href="{html.escape(install)}">install it</a> on the repositories '
            "codeloop may work on.</p>",
        )

    # -- serving ----------------------------------------------------------------------------------

    def route(self, method: str, target: str) -> Page:
        parts = urlsplit(target)
        if method == "GET" and parts.path == "/":
            return self.form_page()
        if method == "GET" and parts.path == CALLBACK_PATH:
            return self.callback(parse_qs(parts.query))
        return Page(404, "Not found", "<p>Nothing here: open the page at / instead.</p>")

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        registration = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # the URL holds the code
                pass

            def _serve(self) -> None:
                page = registration.route(self.command, self.path)
                document = (
                    f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
                    f"<title>{html.escape(page.title)}</title></head>"
                    f"<body><h1>{html.escape(page.title)}</h1>{page.body}</body></html>"
                ).encode()
                self.send_response(page.status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(document)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("Referrer-Policy", "no-referrer")
                self.end_headers()
                self.wfile.write(document)

            do_GET = do_POST = _serve

        return Handler
