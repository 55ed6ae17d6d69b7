"""The local AWS emulation (moto, in-process, over real HTTP) and the resources codeloop needs.

The same boto3 calls as on AWS reach it through ``AWS_ENDPOINT_URL``. Queues mirror
template.yaml: two FIFO queues (events, status) and three standard ones (prompt, codegen,
validation), each with a dead-letter queue after ``MAX_RECEIVES`` receives.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

MAX_RECEIVES = 5
# Threads answering AWS calls in the emulation: more than the long polls that can wait at once.
EMULATION_THREADS = 128
VISIBILITY_SECONDS = 30
# validation_runner: local only (on AWS the status syncer invokes the runner function directly).
QUEUES = {
    "events": True,
    "status": True,
    "prompt": False,
    "codegen": False,
    "validation": False,
    "validation_runner": False,
}
STATE_MACHINES_DIR = Path(__file__).resolve().parents[3] / "statemachine"
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@dataclass
class Emulation:
    process: subprocess.Popen[str]
    endpoint_url: str

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextmanager
def ctrl_c_ignored_by_children() -> Iterator[None]:
    """Processes started inside ignore Ctrl-C from their first instruction (an ignored signal stays
    ignored across exec, and Python then installs no KeyboardInterrupt handler). Ctrl-C reaches
    the whole foreground group: the stack alone handles it and stops its processes, so none of
    them dies with a traceback halfway through its imports."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def start_emulation(port: int = 0) -> Emulation:
    """Start moto on loopback in a process of its own, with real Step Functions executions.

    Its own process, as AWS is: a backlog of emulated calls never takes the GIL from the
    handlers, and the handlers never slow the emulation.
    """
    for key, value in LOCAL_CREDENTIALS.items():
        os.environ.setdefault(key, value)
    with ctrl_c_ignored_by_children():
        process = subprocess.Popen(
            [sys.executable, "-m", "codeloop.local.aws", str(port)],
            stdout=subprocess.PIPE,
            text=True,
            env=os.environ | {"PYTHONUNBUFFERED": "1"},
        )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("http://"):
        process.kill()
        raise RuntimeError(f"the AWS emulation did not start (exit {process.wait()})")
    import httpx

    httpx.post(
        f"{line}/moto-api/config", json={"stepfunctions": {"execute_state_machine": True}}, timeout=10
    ).raise_for_status()
    return Emulation(process, line)


def serve_emulation(port: int) -> None:
    """The emulation's process: moto's application, patched (``moto_patches``), served by waitress
    with keep-alive connections; prints its URL.

    moto's own server (werkzeug's) closes every connection after one answer, so each AWS call
    paid a TCP connect and a new server thread. Waitress keeps botocore's pooled connections
    open. Its threads must outnumber the long polls that can wait at once (the stack's pollers,
    up to 20 s each), or short calls would queue behind them.
    """
    import logging

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from waitress import create_server

    from codeloop.local import moto_patches

    moto_patches.apply()
    server = create_server(
        DomainDispatcherApplication(create_backend_app),
        host="127.0.0.1",
        port=port,
        threads=EMULATION_THREADS,
        connection_limit=1000,
        channel_timeout=120,
    )
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "task queue depth" warnings under a burst
    bound = server.socket.getsockname()[1]
    # moto's state machines call back to localhost:$MOTO_PORT.
    os.environ["MOTO_PORT"] = str(bound)
    print(f"http://127.0.0.1:{bound}", flush=True)
    server.run()


def reset(endpoint_url: str) -> None:
    """Forget every resource (between tests)."""
    import httpx

    httpx.post(f"{endpoint_url}/moto-api/reset", timeout=10).raise_for_status()
    httpx.post(
        f"{endpoint_url}/moto-api/config", json={"stepfunctions": {"execute_state_machine": True}}, timeout=10
    ).raise_for_status()


def provision(endpoint_url: str, prefix: str = "codeloop") -> dict[str, str]:
    """Create the queues (and the state machines, where their definitions exist).

    Returns the settings (environment variables) that point codeloop at them.
    """
    import boto3

    sqs = boto3.client("sqs", endpoint_url=endpoint_url, region_name=LOCAL_CREDENTIALS["AWS_REGION"])
    env: dict[str, str] = {"AWS_ENDPOINT_URL": endpoint_url}
    urls: dict[str, str] = {}
    for name, fifo in QUEUES.items():
        suffix = ".fifo" if fifo else ""
        attributes = {"FifoQueue": "true"} if fifo else {}
        dlq_url = sqs.create_queue(QueueName=f"{prefix}-{name}-dlq{suffix}", Attributes=attributes)[
            "QueueUrl"
        ]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        url = sqs.create_queue(
            QueueName=f"{prefix}-{name}{suffix}",
            Attributes={
                **attributes,
                "VisibilityTimeout": str(VISIBILITY_SECONDS),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVES}
                ),
            },
        )["QueueUrl"]
        urls[name] = url
        env[f"{name.upper()}_QUEUE_URL"] = url
        env[f"{name.upper()}_DLQ_URL"] = dlq_url
    env.update(_state_machines(endpoint_url, prefix, urls))
    return env


def _state_machines(endpoint_url: str, prefix: str, queue_urls: dict[str, str]) -> dict[str, str]:
    import boto3

    substitutions = {
        "PromptQueueUrl": queue_urls["prompt"],
        "CodegenQueueUrl": queue_urls["codegen"],
        "ValidationQueueUrl": queue_urls["validation"],
        "StatusQueueUrl": queue_urls["status"],
    }
    sfn = boto3.client(
        "stepfunctions", endpoint_url=endpoint_url, region_name=LOCAL_CREDENTIALS["AWS_REGION"]
    )
    env: dict[str, str] = {}
    main = STATE_MACHINES_DIR / "task_to_pull_request.asl.json"
    if main.exists():
        arn = sfn.create_state_machine(
            name=f"{prefix}-task-to-pull-request",
            definition=substitute(main.read_text(), substitutions),
            roleArn="arn:aws:iam::123456789012:role/codeloop-local",
        )["stateMachineArn"]
        env["STATE_MACHINE_ARN"] = arn
        substitutions["TaskToPullRequestArn"] = arn
    batch = STATE_MACHINES_DIR / "batch_tasks.asl.json"
    if batch.exists():
        env["BATCH_STATE_MACHINE_ARN"] = sfn.create_state_machine(
            name=f"{prefix}-batch-tasks",
            definition=substitute(batch.read_text(), substitutions),
            roleArn="arn:aws:iam::123456789012:role/codeloop-local",
        )["stateMachineArn"]
    return env


def substitute(definition: str, values: dict[str, str]) -> str:
    """Apply SAM's DefinitionSubstitutions (``${Name}``) the way the deployment does."""
    for key, value in values.items():
        definition = definition.replace("${" + key + "}", value)
    return definition


if __name__ == "__main__":
    serve_emulation(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
