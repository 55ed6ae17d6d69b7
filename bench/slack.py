"""bench/slack: the `/codeloop` slash command's acknowledgement on the local stack, over HTTP.

The local stack's HTTP port (the same handler as the Lambda) with real PostgreSQL and the local
AWS emulation: each request is signed as Slack signs it, verified, stored, deduplicated, put on
the events queue and answered with the ephemeral acknowledgement. Slack's limit is 3 s; the aim
is p99 <= 50 ms. Prints p50/p99 for `fix` (stored and queued) and `help` (answered at once).
"""

from __future__ import annotations

import http.client
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import drain, percentiles, scratch_database

from codeloop.adapters.aws import client as aws_client
from codeloop.local import aws as local_aws
from tests.fakes.slack_api import SIGNING_SECRET, command_body, signed_headers

ROUNDS = 400
WARMUP = 30


def acknowledge(connection: http.client.HTTPConnection, text: str) -> float:
    body = command_body(text, user_id="U0BENCH", response_url="https://hooks.slack.com/commands/T0001/1/x")
    start = time.perf_counter()
    connection.request("POST", "/webhooks/slack/commands", body, signed_headers(body))
    response = connection.getresponse()
    answer = response.read()
    elapsed = (time.perf_counter() - start) * 1000
    assert response.status == 200 and b"ephemeral" in answer, (response.status, answer)
    return elapsed


def main() -> None:
    emulation = local_aws.start_emulation()
    try:
        with scratch_database() as url:
            env = local_aws.provision(emulation.endpoint_url)
            os.environ.update(env | {"DATABASE_URL": url, "SLACK_SIGNING_SECRET": SIGNING_SECRET})
            from codeloop.api.front import handle
            from codeloop.local.http import serve

            server = serve(handle, "127.0.0.1", 0)
            connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1])
            sqs = aws_client("sqs")
            try:
                for index in range(WARMUP):
                    acknowledge(connection, f"fix acme/widgets#{index + 1} warm up")
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
    finally:
        emulation.stop()


if __name__ == "__main__":
    main()
