"""An HTTP fake of GitHub's App manifest flow: the new-App form target and the code conversion.

- ``POST /settings/apps/new`` and ``POST /organizations/{org}/settings/apps/new`` take the form
  fields ``manifest`` and ``state`` (``state`` may also ride in the query, as GitHub's docs show).
  Where GitHub would show its page and let the user confirm, the fake creates the App at once and
  redirects (302) to the manifest's ``redirect_url`` with ``code`` and ``state``, as GitHub does.
- ``POST /app-manifests/{code}/conversions`` (also under ``/api/v3``, as on GitHub Enterprise
  Server) takes no authentication and answers 201 with the App's credentials, once per code;
  an unknown or used code gets 404.

Every call is recorded (``calls``); ``fail_next`` makes the next call answer an error instead.
"""

from __future__ import annotations

import itertools
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

from tests.fakes.github import app_key_pair
from tests.fakes.recording_http import RecordedCall, RecordingServer, Reply

# GitHub itself needs no redirect_url (it then shows the App); this fake redirects, so it does.
REQUIRED_MANIFEST_KEYS = ("url", "hook_attributes", "redirect_url")


@dataclass
class CreatedApp:
    owner: str  # "user" or the organization's login
    manifest: dict[str, Any]
    credentials: dict[str, Any]
    code: str
    converted: bool = False


class GitHubAppsFake(RecordingServer):
    def __init__(self) -> None:
        super().__init__()
        self.apps: list[CreatedApp] = []
        self._ids = itertools.count(1001)

    def route(self, call: RecordedCall) -> Reply:
        path = call.path.removeprefix("/api/v3")
        if call.method == "POST" and path == "/settings/apps/new":
            return self._new_app(call, "user")
        parts = path.strip("/").split("/")
        if (
            call.method == "POST"
            and len(parts) == 5
            and parts[0] == "organizations"
            and parts[2:]
            == [
                "settings",
                "apps",
                "new",
            ]
        ):
            return self._new_app(call, parts[1])
        if (
            call.method == "POST"
            and len(parts) == 3
            and parts[0] == "app-manifests"
            and parts[2] == "conversions"
        ):
            return self._conversion(parts[1])
        return Reply(404, {"message": "Not Found"})

    def _new_app(self, call: RecordedCall, owner: str) -> Reply:
        form = parse_qs(call.body if isinstance(call.body, str) else "")
        state = (form.get("state") or call.query.get("state") or [""])[0]
        try:
            manifest = json.loads((form.get("manifest") or [""])[0])
        except ValueError:
            return Reply(422, {"message": "The manifest is not valid JSON"})
        missing = [key for key in REQUIRED_MANIFEST_KEYS if not manifest.get(key)]
        if not (manifest.get("hook_attributes") or {}).get("url"):
            missing.append("hook_attributes.url")
        if missing:
            return Reply(422, {"message": f"The manifest lacks {', '.join(missing)}"})
        app_id = next(self._ids)
        slug = f"{manifest.get('name') or 'app'}-{app_id}".lower().replace(" ", "-")
        code = secrets.token_hex(10)
        credentials = {
            "id": app_id,
            "slug": slug,
            "node_id": f"A_{app_id}",
            "name": manifest.get("name"),
            "owner": {"login": owner},
            "html_url": f"{self.url}/apps/{slug}",
            "permissions": manifest.get("default_permissions", {}),
            "events": manifest.get("default_events", []),
            "client_id": f"Iv1.{secrets.token_hex(8)}",
            "client_secret": secrets.token_hex(20),
            "webhook_secret": secrets.token_hex(20),
            "pem": app_key_pair()[0],
        }
        self.apps.append(CreatedApp(owner, manifest, credentials, code))
        location = f"{manifest['redirect_url']}?{urlencode({'code': code, 'state': state})}"
        return Reply(302, None, {"Location": location})

    def _conversion(self, code: str) -> Reply:
        for app in self.apps:
            if app.code == code and not app.converted:
                app.converted = True
                return Reply(201, app.credentials)
        return Reply(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
