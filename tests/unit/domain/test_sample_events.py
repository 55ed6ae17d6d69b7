"""events/ holds signed API Gateway events that match what the builder makes from the fixtures."""

import json

from codeloop.domain.webhooks import parse_delivery, route
from codeloop.local import sample_events


def test_events_are_current_and_signed_with_the_dev_secret(tmp_path):
    built = {path.name: path.read_text() for path in sample_events.build(tmp_path)}
    committed = {path.name: path.read_text() for path in sample_events.EVENTS_DIR.glob("webhook_*.json")}
    assert committed == built, "events/ is stale: run python -m codeloop.local.sample_events"
    for text in built.values():
        event = json.loads(text)
        envelope, _ = parse_delivery(event["headers"], event["body"].encode(), [sample_events.DEV_WEBHOOK_SECRET])
        assert route(envelope) == "act"


def test_the_comment_sample_holds_a_fix_command_on_a_pull_request():
    event = json.loads((sample_events.EVENTS_DIR / "webhook_issue_comment_fix.json").read_text())
    payload = json.loads(event["body"])
    assert "/codeloop fix" in payload["comment"]["body"] and payload["issue"]["pull_request"]
