"""bench/webhook: the webhook receiver, warm (p50/p99 per delivery) and cold (a fresh interpreter
importing the handler and serving its first delivery), with real PostgreSQL and the local AWS
emulation. Aims: warm p99 <= 15 ms; cold minus a bare interpreter <= 250 ms.

The cold figure is printed beside the floor of the libraries the first delivery cannot do without:
a fresh interpreter that imports psycopg, its pool, Powertools and botocore, creates the SQS client
as the receiver does, and makes the same calls (one insert, one send) with nothing of codeloop's
receiver around them. This machine's clock jitters by tens of milliseconds from run to run, so
each is the median (and the minimum) of ``COLD_RUNS`` fresh interpreters."""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import percentiles, scratch_database

from codeloop.adapters.aws import client as aws_client
from codeloop.local import aws as local_aws
from codeloop.local.sample_events import DEV_WEBHOOK_SECRET, EVENTS_DIR, api_gateway_event

REPO_ROOT = Path(__file__).resolve().parents[1]
HANDLER_DIR = REPO_ROOT / "functions" / "webhook_receiver"
ROUNDS = 500
COLD_RUNS = 15

COLD_SCRIPT = """
import json, sys, time
start = time.perf_counter()
sys.path.insert(0, sys.argv[1])
from app import lambda_handler
imported = time.perf_counter()
result = lambda_handler(json.loads(sys.argv[2]), None)
done = time.perf_counter()
assert result["statusCode"] == 202, result
print(json.dumps({"import_ms": (imported - start) * 1000, "first_ms": (done - imported) * 1000,
                  "answered_at": time.time()}), flush=True)
"""
LIBRARY_FLOOR_SCRIPT = """
import json, os, sys, time
start = time.perf_counter()
import psycopg, psycopg_pool
from aws_lambda_powertools import Logger, Metrics
from codeloop.adapters.aws import client
sqs = client("sqs")
with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
    conn.execute("insert into webhook_deliveries (delivery_id, event, payload, status) values (%s, 'ping', '{}', 'queued')", (sys.argv[1],))
    sqs.send_message(QueueUrl=os.environ["EVENTS_QUEUE_URL"], MessageBody="{}", MessageGroupId="g", MessageDeduplicationId=sys.argv[1])
print(json.dumps({"answered_at": time.time()}), flush=True)
"""
# The first delivery is served when its answer exists, not when the interpreter has exited
# (tearing down the pool's threads is no part of it): both are timed to the child's own clock.
BARE_SCRIPT = "import time; print(time.time())"


def sample_event(delivery_id: str) -> dict:
    """The sample comment under a delivery id of its own, its body made distinct by that id (the
    receiver takes the same body under another id for a replay)."""
    template = json.loads((EVENTS_DIR / "webhook_issue_comment_fix.json").read_text())
    payload = json.loads(template["body"])
    payload["comment"]["node_id"] = delivery_id
    return api_gateway_event("issue_comment", payload, delivery_id, DEV_WEBHOOK_SECRET)


def drain(sqs, queue_url: str) -> None:
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )


def time_deliveries(lambda_handler, events: Iterable[dict], queue_url: str) -> list[float]:
    """Milliseconds the handler takes per delivery, each answered 202."""
    sqs = aws_client("sqs")
    samples = []
    for index, event in enumerate(events):
        if index % 25 == 0:  # moto's SQS slows down as a queue grows: keep it shallow, untimed
            drain(sqs, queue_url)
        start = time.perf_counter()
        result = lambda_handler(event, None)
        samples.append((time.perf_counter() - start) * 1000)
        assert result["statusCode"] == 202, result
    return samples


@contextlib.contextmanager
def warm_receiver(settings: dict[str, str], warmup: Iterable[dict]) -> Iterator[tuple[Any, dict[str, str]]]:
    """The receiver's handler (and the stack's settings) on a scratch database and the local AWS
    emulation, after the ``warmup`` events."""
    emulation = local_aws.start_emulation()
    try:
        with scratch_database() as url:
            env = local_aws.provision(emulation.endpoint_url)
            os.environ.update(env | {"DATABASE_URL": url} | settings)
            sys.path.insert(0, str(HANDLER_DIR))
            from app import lambda_handler

            for event in warmup:
                lambda_handler(event, None)
            yield lambda_handler, env
    finally:
        emulation.stop()


def main() -> None:
    warmup = (sample_event(f"warmup-{index}") for index in range(30))
    with warm_receiver({"GITHUB_WEBHOOK_SECRET": DEV_WEBHOOK_SECRET}, warmup) as (lambda_handler, env):
        sqs = aws_client("sqs")
        samples = time_deliveries(
            lambda_handler, [sample_event(f"warm-{index}") for index in range(ROUNDS)], env["EVENTS_QUEUE_URL"]
        )
        print(f"webhook receiver warm, per delivery: {percentiles(samples)}")
        sends = []
        for index in range(ROUNDS):
            if index % 25 == 0:
                drain(sqs, env["EVENTS_QUEUE_URL"])
            start = time.perf_counter()
            sqs.send_message(QueueUrl=env["EVENTS_QUEUE_URL"], MessageBody="{}", MessageGroupId="g",
                             MessageDeduplicationId=f"send-{index}")  # fmt: skip
            sends.append((time.perf_counter() - start) * 1000)
        print(f"  of which the emulated SQS send alone: {percentiles(sends)}")

        child_env = os.environ | {"PYTHONDONTWRITEBYTECODE": "0"}
        bare, cold, floor = [], [], []
        for index in range(COLD_RUNS):
            bare.append(fresh_interpreter([BARE_SCRIPT], child_env)[0])
            event = json.dumps(sample_event(f"cold-{index}"))
            total, inner = fresh_interpreter([COLD_SCRIPT, str(HANDLER_DIR), event], child_env)
            cold.append((total, inner["import_ms"], inner["first_ms"]))
            floor.append(fresh_interpreter([LIBRARY_FLOOR_SCRIPT, f"floor-{index}"], child_env)[0])
        base = statistics.median(bare)
        print(f"bare interpreter, started: median {base:.0f} ms")
        totals = [c[0] for c in cold]
        print(
            "cold start (fresh interpreter + import + first delivery answered): "
            f"median {statistics.median(totals):.0f} ms "
            f"(import {statistics.median(c[1] for c in cold):.0f} ms, "
            f"first delivery {statistics.median(c[2] for c in cold):.0f} ms); "
            f"minus the bare interpreter: median {statistics.median(totals) - base:.0f} ms, "
            f"min {min(totals) - min(bare):.0f} ms (n={COLD_RUNS})"
        )
        print(
            "  the libraries' floor (their imports, the SQS client, the same insert and send): "
            f"minus the bare interpreter: median {statistics.median(floor) - base:.0f} ms, "
            f"min {min(floor) - min(bare):.0f} ms"
        )


def fresh_interpreter(arguments: list[str], env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    """Milliseconds from starting ``python -c ...`` until the time its last line of output states
    (``answered_at``, or the bare number), and that line as JSON."""
    start = time.time()
    out = subprocess.run([sys.executable, "-c", *arguments], env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"fresh interpreter failed:\n{out.stderr[-3000:]}")
    last = json.loads(out.stdout.strip().splitlines()[-1])
    answered = last["answered_at"] if isinstance(last, dict) else last
    return (answered - start) * 1000, last if isinstance(last, dict) else {}

if __name__ == "__main__":
    main()
