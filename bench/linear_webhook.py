"""bench/linear_webhook: ``POST /webhooks/linear`` warm, per delivery (verify the signature and the
timestamp, store, queue), through the webhook receiver's handler with real PostgreSQL and the local
AWS emulation. The same work as a GitHub delivery: aim for the same warm p99 (<= 15 ms)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import percentiles
from webhook import ROUNDS, time_deliveries, warm_receiver

from codeloop.domain.linear import sign
from codeloop.local.sample_events import DEV_WEBHOOK_SECRET as SECRET

FIXTURE = (
    Path(__file__).resolve().parents[1]
    / "tests"
    / "fixtures"
    / "linear-api"
    / "webhooks"
    / "issue_labelled.json"
)


def linear_event(index: int) -> dict:
    """The labelled-issue fixture, sent now (each body distinct, as each delivery's timestamp is)."""
    payload = json.loads(FIXTURE.read_text())
    payload["webhookTimestamp"] = int(time.time() * 1000)
    payload["data"]["sortOrder"] = float(index)
    body = json.dumps(payload).encode()
    return {
        "version": "2.0",
        "rawPath": "/webhooks/linear",
        "headers": {"content-type": "application/json", "linear-signature": sign(body, SECRET)},
        "requestContext": {"http": {"method": "POST", "path": "/webhooks/linear"}},
        "body": body.decode(),
        "isBase64Encoded": False,
    }


def main() -> None:
    warmup = (linear_event(-1 - index) for index in range(30))
    with warm_receiver({"LINEAR_WEBHOOK_SECRET": SECRET}, warmup) as (lambda_handler, env):
        # A generator: each delivery is stamped just before it is timed (it has a minute).
        events = (linear_event(index) for index in range(ROUNDS))
        samples = time_deliveries(lambda_handler, events, env["EVENTS_QUEUE_URL"])
        print(f"Linear webhook warm, per delivery: {percentiles(samples)}")


if __name__ == "__main__":
    main()
