"""Every example payload GitHub publishes gives an envelope and a route, never an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeloop.domain.commands import requests_from_event
from codeloop.domain.webhooks import parse_delivery, route

from .payloads import SECRET, WEBHOOK_EXAMPLES, signed_headers

EXAMPLES = sorted(WEBHOOK_EXAMPLES.glob("*/*.json"))
ACTED_ON = {
    "issue_comment/created.payload.json",
    "issue_comment/edited.payload.json",
    "issues/labeled.payload.json",
    "pull_request/opened.payload.json",
    "pull_request/synchronize.payload.json",
    "check_suite/completed.payload.json",
    "check_run/requested_action.payload.json",
    "merge_group/checks_requested.payload.json",
    "installation/deleted.payload.json",
    "installation_repositories/removed.payload.json",
}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_example_payload_is_accepted_and_routed(path: Path):
    body = path.read_bytes()
    event = path.parent.name
    envelope, payload = parse_delivery(signed_headers(body, event, f"delivery-{path.name}"), body, [SECRET])
    assert envelope.event == event
    assert envelope.action == payload.get("action")
    assert envelope.message_group_id
    expected_route = "ping" if event == "ping" else None
    name = f"{event}/{path.name}"
    if name in ACTED_ON:
        expected_route = "act"
    decided = route(envelope)
    assert decided in ("act", "ignore", "ping")
    if expected_route:
        assert decided == expected_route
    # None of GitHub's examples holds a /codeloop command, the codeloop label or our buttons.
    assert requests_from_event(envelope, payload) == []


def test_the_corpus_covers_every_routed_kind():
    routes = set()
    for path in EXAMPLES:
        body = path.read_bytes()
        envelope, _ = parse_delivery(signed_headers(body, path.parent.name), body, [SECRET])
        routes.add(route(envelope))
    assert routes == {"act", "ignore", "ping"}
    assert len(EXAMPLES) > 200
