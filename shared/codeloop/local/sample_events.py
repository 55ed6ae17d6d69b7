"""Sample API Gateway events in events/, built from GitHub's published example payloads.

They are signed with the development webhook secret (``DEV_WEBHOOK_SECRET``), which
``make dev`` uses when ``GITHUB_WEBHOOK_SECRET`` is unset, so ``sam local invoke -e`` and
``codeloop replay`` work with no setup. ``python -m codeloop.local.sample_events`` rebuilds them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from codeloop.domain.webhooks import sign

DEV_WEBHOOK_SECRET = "codeloop-dev-secret"  # noqa: S105 - a published development value, never a real secret
REPO_ROOT = Path(__file__).resolve().parents[3]
EVENTS_DIR = REPO_ROOT / "events"
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "github"


def _pr_comment_with_command() -> dict[str, Any]:
    payload = json.loads((FIXTURES / "issue_comment" / "created.with-installation.payload.json").read_text())
    payload["comment"]["body"] = "Thanks! One more thing:\n\n/codeloop fix make the greeting configurable"
    payload["issue"]["pull_request"] = {
        "url": payload["repository"]["url"] + "/pulls/1",
        "html_url": payload["repository"]["html_url"] + "/pull/1",
    }
    return payload


SAMPLES: dict[str, tuple[str, Any]] = {
    "webhook_issue_comment_fix.json": ("issue_comment", _pr_comment_with_command),
    "webhook_pull_request_opened.json": (
        "pull_request",
        lambda: json.loads((FIXTURES / "pull_request" / "opened.payload.json").read_text()),
    ),
    "webhook_installation_created.json": (
        "installation",
        lambda: json.loads((FIXTURES / "installation" / "created.payload.json").read_text()),
    ),
}


def api_gateway_event(event: str, payload: dict[str, Any], delivery_id: str, secret: str) -> dict[str, Any]:
    body = json.dumps(payload, indent=None, separators=(",", ":"))
    return {
        "version": "2.0",
        "routeKey": "POST /webhooks/github",
        "rawPath": "/webhooks/github",
        "rawQueryString": "",
        "headers": {
            "content-type": "application/json",
            "user-agent": "GitHub-Hookshot/sample",
            "x-github-event": event,
            "x-github-delivery": delivery_id,
            "x-hub-signature-256": sign(body.encode(), secret),
        },
        "requestContext": {
            "http": {
                "method": "POST",
                "path": "/webhooks/github",
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
            },
            "requestId": f"sample-{delivery_id}",
            "routeKey": "POST /webhooks/github",
            "stage": "$default",
        },
        "body": body,
        "isBase64Encoded": False,
    }


def build(directory: Path = EVENTS_DIR) -> list[Path]:
    written = []
    for index, (name, (event, make)) in enumerate(sorted(SAMPLES.items()), start=1):
        delivery = f"00000000-0000-4000-8000-{index:012d}"
        path = directory / name
        path.write_text(
            json.dumps(api_gateway_event(event, make(), delivery, DEV_WEBHOOK_SECRET), indent=2) + "\n"
        )
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in build():
        print(written_path.relative_to(REPO_ROOT), file=sys.stdout)
