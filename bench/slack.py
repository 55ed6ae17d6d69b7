"""bench/slack: the `/codeloop` slash command's acknowledgement on the local stack, over HTTP.

The receiver's handler (the same as the Lambda) behind the local stack's HTTP port, with real
PostgreSQL and the local AWS emulation: each request is signed as Slack signs it, verified,
stored, deduplicated, put on the events queue and answered with the ephemeral acknowledgement.
Slack's limit is 3 s; the aim is p99 <= 50 ms. Prints p50/p99 for `fix` (stored and queued) and
`help` (answered at once).
"""

from __future__ import annotations

import http.client
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import percentiles
from webhook import drain, warm_receiver

from codeloop.adapters.aws import client as aws_client
from codeloop.local.http import serve, to_event
from tests.fakes.slack_api import SIGNING_SECRET, command_body, signed_headers

PATH = "/webhooks/slack/commands"
RESPONSE_URL = "https://hooks.slack.com/commands/T0001/1/x"
ROUNDS = 400


def warmup(count: int = 30) -> Iterator[dict]:
    for index in range(count):
        body = command_body(f"fix acme/widgets#{index + 1} warm up", user_id="U0BENCH", response_url=RESPONSE_URL)
        yield to_event("POST", PATH, signed_headers(body), body)


def acknowledge(connection: http.client.HTTPConnection, text: str) -> float:
    body = command_body(text, user_id="U0BENCH", response_url=RESPONSE_URL)
    start = time.perf_counter()
    connection.request("POST", PATH, body, signed_headers(body))
    response = connection.getresponse()
    answer = response.read()
    elapsed = (time.perf_counter() - start) * 1000
    assert response.status == 200 and b"ephemeral" in answer, (response.status, answer)
    return elapsed


def main() -> None:
    with warm_receiver({"SLACK_SIGNING_SECRET": SIGNING_SECRET}, warmup()) as (lambda_handler, env):
        server = serve(lambda_handler, "127.0.0.1", 0)
        connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1])
        sqs = aws_client("sqs")
        try:
            for text, queued in (("fix acme/widgets#{n} add a --json flag", True), ("help", False)):
                samples = []
                for index in range(ROUNDS):
                    if queued and index % 25 == 0:  # moto's SQS slows as a queue grows: keep it shallow, untimed
                        drain(sqs, env["EVENTS_QUEUE_URL"])
                    samples.append(acknowledge(connection, text.format(n=index + 1)))
                what = "stored + queued" if queued else "answered at once"
                print(f"slash command `{text.split()[0]}` acknowledgement ({what}), local stack over HTTP: {percentiles(samples)}")
        finally:
            connection.close()
            server.shutdown()


if __name__ == "__main__":
    main()
