"""bench/linear_webhook: ``POST /webhooks/linear`` warm, per delivery (verify the signature and the
timestamp, store, queue), through the webhook receiver's handler with real PostgreSQL and the local
AWS emulation. The same work as a GitHub delivery: aim for the same warm p99 (<= 15 ms)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import percentiles, scratch_database
from webhook import HANDLER_DIR, ROUNDS, drain

from codeloop.adapters.aws import client as aws_client
from codeloop.domain.linear import sign
from codeloop.local import aws as local_aws
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
    emulation = local_aws.start_emulation()
    try:
        with scratch_database() as url:
            env = local_aws.provision(emulation.endpoint_url)
            os.environ.update(env | {"DATABASE_URL": url, "LINEAR_WEBHOOK_SECRET": SECRET})
            sys.path.insert(0, str(HANDLER_DIR))
            from app import lambda_handler

            sqs = aws_client("sqs")
            for index in range(30):
                lambda_handler(linear_event(-1 - index), None)
            samples = []
            for index in range(ROUNDS):
                if index % 25 == 0:  # keep moto's queue shallow, untimed
                    drain(sqs, env["EVENTS_QUEUE_URL"])
                event = linear_event(index)
                start = time.perf_counter()
                result = lambda_handler(event, None)
                samples.append((time.perf_counter() - start) * 1000)
                assert result["statusCode"] == 202, result
            print(f"Linear webhook warm, per delivery: {percentiles(samples)}")
    finally:
        emulation.stop()


if __name__ == "__main__":
    main()
