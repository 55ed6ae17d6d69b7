"""A cold start's first delivery: a fresh interpreter imports the receiver's handler and serves one
command comment (verify, store, enqueue) without importing what that needs none of.

Each of these is tens of milliseconds of a cold start (bench/webhook.py measures it); they are
imported where they are used, by the workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import receive_all
from tests.unit.ingress.payloads import SECRET, load, signed_headers

HANDLER_DIR = Path(__file__).resolve().parents[3] / "functions" / "webhook_receiver"
NOT_ON_THE_FIRST_DELIVERY = ("pydantic", "pydantic_core", "githubkit", "httpx", "jinja2", "yaml", "jsonschema")

FIRST_DELIVERY = """
import json, sys
sys.path.insert(0, sys.argv[1])
from app import lambda_handler
result = lambda_handler(json.loads(sys.argv[2]), None)
imported = sorted({name.split(".")[0] for name in sys.modules})
print(json.dumps({"status": result["statusCode"], "body": json.loads(result["body"]), "imported": imported}))
"""


def test_the_first_delivery_of_a_fresh_interpreter_imports_only_what_it_needs(db_url, aws):
    body = json.dumps(load("issue_comment/created.payload.json")).encode()
    event = {
        "version": "2.0",
        "rawPath": "/webhooks/github",
        "headers": signed_headers(body, "issue_comment", "first-1"),
        "requestContext": {"http": {"method": "POST", "path": "/webhooks/github"}},
        "body": body.decode(),
        "isBase64Encoded": False,
    }
    environment = os.environ | {"GITHUB_WEBHOOK_SECRET": SECRET}
    run = subprocess.run(
        [sys.executable, "-c", FIRST_DELIVERY, str(HANDLER_DIR), json.dumps(event)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    served = json.loads(run.stdout.strip().splitlines()[-1])
    assert served["status"] == 202 and served["body"]["status"] == "queued"
    [message] = receive_all(aws["EVENTS_QUEUE_URL"])
    assert message["body"]["delivery_id"] == "first-1"
    assert {"psycopg", "botocore"} <= set(served["imported"])  # it did store and enqueue
    assert not set(NOT_ON_THE_FIRST_DELIVERY) & set(served["imported"])
