"""An HTTP fake of Slack: its Web API under ``/api/<method>``, and the ``response_url`` of slash
commands and buttons under ``/response/<id>``.

Every Web API call is checked against Slack's published description
(``tests.fixtures.SLACK_API_DESCRIPTION``): the method must exist, the bot token must come as
``Authorization: Bearer``, and every parameter the description marks required must be sent
(form-encoded or JSON, as the method consumes). A call that breaks a rule is answered as Slack
answers (HTTP 200, ``ok: false``) and kept in ``violations``, which tests assert empty.
``chat.postMessage`` and ``chat.update`` keep messages by channel and ts; a channel is known by
its name (``#dev``) or its id. ``responses`` holds what was posted to each response URL.
:meth:`FakeSlack.rate_limit_next` answers the next Web API calls as Slack does when it rate-limits
(HTTP 429, ``Retry-After``, ``{"ok": false, "error": "ratelimited"}``); they are recorded, and change
nothing.

The fake also plays Slack's side of a request to codeloop: :func:`sign` is Slack's v0 signature.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import itertools
import json
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

from tests.fakes.recording_http import RecordedCall, RecordingHandler, RecordingServer, Reply
from tests.fixtures import SLACK_API_DESCRIPTION

BOT_TOKEN = "xoxb-test-codeloop"
SIGNING_SECRET = "slack-test-signing-secret"


def sign(body: bytes, timestamp: int, secret: str = SIGNING_SECRET) -> str:
    """``X-Slack-Signature`` for ``body`` sent at ``timestamp``: v0= hex HMAC-SHA256 of v0:ts:body."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@functools.cache
def _description() -> dict[str, Any]:
    return json.loads(SLACK_API_DESCRIPTION.read_text())


def required_parameters(method: str) -> set[str] | None:
    """The parameters Slack's description requires for ``method`` (None: no such method)."""
    path = _description()["paths"].get(f"/{method}")
    if path is None:
        return None
    operation = path.get("post") or path.get("get") or {}
    return {p["name"] for p in operation.get("parameters", []) if p.get("required")}


class _SlackHandler(RecordingHandler):
    def recorded_body(self, raw: bytes) -> Any:
        if self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            return dict(parse_qsl(raw.decode(), keep_blank_values=True))
        return super().recorded_body(raw)


class FakeSlack(RecordingServer):
    handler = _SlackHandler

    def __init__(self, channels: dict[str, str] | None = None):
        super().__init__()
        self.token = BOT_TOKEN
        self.channels = dict(channels or {"#dev": "C0DEV"})  # name → id
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}  # (channel id, ts) → message
        self.responses: dict[str, list[dict[str, Any]]] = {}  # response id → what was posted
        self.violations: list[str] = []
        self._ts = itertools.count(1)

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    def response_url(self, name: str) -> str:
        return f"{self.url}/response/{name}"

    def api_calls(self, method: str | None = None) -> list[RecordedCall]:
        return [
            call
            for call in self.calls
            if call.path.startswith("/api/") and (method is None or call.path == f"/api/{method}")
        ]

    def rate_limit_next(self, count: int, retry_after: int) -> None:
        """Answer the next ``count`` calls with Slack's 429, asking to wait ``retry_after`` seconds."""
        body = {"ok": False, "error": "ratelimited"}
        self.fail_next(count, "status", status=429, body=body, retry_after=str(retry_after))

    def texts(self, response: str) -> list[str]:
        return [posted.get("text", "") for posted in self.responses.get(response, [])]

    # -- serving ------------------------------------------------------------------------------------

    def route(self, call: RecordedCall) -> Reply:
        if call.method == "POST" and call.path.startswith("/response/"):
            self.responses.setdefault(call.path.removeprefix("/response/"), []).append(call.body or {})
            return Reply(200, "ok")
        if not call.path.startswith("/api/"):
            return Reply(404, {"ok": False, "error": "not_found"})
        method = call.path.removeprefix("/api/")
        required = required_parameters(method)
        if required is None:
            return self._refuse(method, "unknown_method")
        if call.headers.get("authorization") != f"Bearer {self.token}":
            return self._refuse(method, "not_authed" if "authorization" not in call.headers else "invalid_auth")
        params = call.body if isinstance(call.body, dict) else {}
        missing = sorted(name for name in required - {"token"} if params.get(name) in (None, ""))
        if missing:
            return self._refuse(method, "invalid_arguments", f"missing required {', '.join(missing)}")
        answer = getattr(self, "_" + method.replace(".", "_"), None)
        return answer(params) if answer else Reply(200, {"ok": True})

    def _refuse(self, method: str, error: str, detail: str = "") -> Reply:
        self.violations.append(f"{method}: {error}{f' ({detail})' if detail else ''}")
        return Reply(200, {"ok": False, "error": error})

    def _channel_id(self, channel: str) -> str | None:
        return channel if channel in self.channels.values() else self.channels.get(channel)

    def _chat_postMessage(self, params: dict[str, Any]) -> Reply:
        channel = self._channel_id(str(params["channel"]))
        if channel is None:
            return Reply(200, {"ok": False, "error": "channel_not_found"})
        ts = f"1700000000.{next(self._ts):06d}"
        message = {"type": "message", "ts": ts, "text": params.get("text", ""), "blocks": params.get("blocks", [])}
        self.messages[(channel, ts)] = message
        return Reply(200, {"ok": True, "channel": channel, "ts": ts, "message": message})

    def _chat_update(self, params: dict[str, Any]) -> Reply:
        channel = self._channel_id(str(params["channel"]))
        key = (channel or "", str(params["ts"]))
        if key not in self.messages:
            return Reply(200, {"ok": False, "error": "message_not_found"})
        self.messages[key].update(text=params.get("text", ""), blocks=params.get("blocks", []))
        return Reply(200, {"ok": True, "channel": channel, "ts": key[1], "text": params.get("text", "")})


# -- Slack's side of a request to codeloop ------------------------------------------------------------

_triggers = itertools.count(1)


def command_body(text: str, *, user_id: str, response_url: str, command: str = "/codeloop") -> bytes:
    """The form Slack POSTs for a slash command (the fields of Slack's documented example)."""
    trigger = next(_triggers)
    return urlencode(
        {
            "token": "gIkuvaNzQIHg97ATvDxqgjtO",  # Slack's deprecated verification token: ignored
            "team_id": "T0001",
            "team_domain": "acme",
            "channel_id": "C0DEV",
            "channel_name": "dev",
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A0CODELOOP",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": f"{trigger}.1.{hashlib.sha256(text.encode()).hexdigest()[:16]}",
        }
    ).encode()


def button_body(action_id: str, value: str, *, user_id: str, response_url: str, message_ts: str = "1.0") -> bytes:
    """The form Slack POSTs when a button of a message is clicked (``payload``: block_actions JSON)."""
    trigger = next(_triggers)
    payload = {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": "T0001"},
        "api_app_id": "A0CODELOOP",
        "token": "gIkuvaNzQIHg97ATvDxqgjtO",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": "C0DEV", "is_ephemeral": False},
        "trigger_id": f"{trigger}.2.button",
        "team": {"id": "T0001", "domain": "acme"},
        "channel": {"id": "C0DEV", "name": "dev"},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": "codeloop",
                "text": {"type": "plain_text", "text": action_id},
                "value": value,
                "type": "button",
                "action_ts": "1700000000.000001",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def signed_headers(body: bytes, *, timestamp: int | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": str(timestamp),
        "x-slack-signature": sign(body, timestamp, secret),
    }
