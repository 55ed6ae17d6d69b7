"""``make dev``: the whole app on one machine, no AWS account.

- PostgreSQL: ``DATABASE_URL``, or an embedded server (data in .codeloop/pgdata);
- AWS: ``AWS_ENDPOINT_URL``, or moto in a process of its own, with the queues, dead-letter queues
  and the real state machine definitions executing;
- each function in a process of its own, as on AWS: queue pollers sized like template.yaml's
  event source mappings (batch size, concurrency, long polling) call the real handlers the way
  Lambda's SQS event source mapping does; the status syncer's process also runs the sweeper on
  its schedule; the validation runner's claims the orphans of its commands and holds no
  database URL or App secret;
- the HTTP front (webhooks, task API, /health, the dashboard under /app/) on
  127.0.0.1:$CODELOOP_PORT, from a few processes sharing the port.

It prints its URLs and the settings it still needs, and stops cleanly on Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import threading
from contextlib import ExitStack
from typing import Any

from codeloop.observability import logger

SWEEP_SECONDS = 60
# Lambda's SQS pollers long-poll (20 s): an idle queue costs one request per poller and 20 s.
LONG_POLL_SECONDS = 20
# queue → (the function its event source mapping feeds, BatchSize, ScalingConfig.MaximumConcurrency),
# as in template.yaml (ValidationConcurrency at its default); on AWS the validation runner is invoked
# directly, locally it has a queue of its own.
EVENT_SOURCES = {
    "events": ("status_syncer", 10, 5),
    "status": ("status_syncer", 10, 5),
    "prompt": ("prompt_builder", 5, 5),
    "codegen": ("codegen_dispatcher", 1, 2),
    "validation": ("status_syncer", 1, 5),
    "validation_runner": ("validation_runner", 1, 1),
}
CONSUMERS = {queue: function for queue, (function, _, _) in EVENT_SOURCES.items()}
RUNNER = "validation_runner"
# The HTTP front (the webhook receiver function) answers from this many processes sharing its
# port: Lambda runs concurrent requests in separate execution environments.
FRONT_PROCESSES = max(2, min(4, os.cpu_count() or 2))
# On AWS each function has CPUs of its own; here the queue workers run at a lower priority, so a
# backlog of work never takes the CPU from the front's acknowledgements.
WORKER_NICENESS = 10
SWEEPS = "status_syncer"


def _database(stack: ExitStack) -> tuple[str, str]:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url, "from DATABASE_URL"
    from codeloop.local import embedded_pg

    server = embedded_pg.start()
    stack.callback(server.cleanup)
    url = embedded_pg.url(server)
    os.environ["DATABASE_URL"] = url
    return url, f"embedded (data in {embedded_pg.local_data_dir()})"


def _aws(stack: ExitStack) -> tuple[dict[str, str], str]:
    from codeloop.local import aws as local_aws

    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    where = f"at {endpoint}"
    if not endpoint:
        emulation = local_aws.start_emulation()
        stack.callback(emulation.stop)
        endpoint, where = emulation.endpoint_url, f"moto in its own process at {emulation.endpoint_url}"
    for key, value in local_aws.LOCAL_CREDENTIALS.items():
        os.environ.setdefault(key, value)
    env = local_aws.provision(endpoint)
    os.environ.update(env)
    return env, where


def missing_settings() -> list[str]:
    """What the stack still needs for the whole loop, with how to get it."""
    from codeloop.settings import get_settings

    settings = get_settings()
    notes = []
    if settings.github_app_id is None or settings.optional_secret("github_app_private_key") is None:
        notes.append(
            "GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY(_PATH): run `codeloop app create` (it writes .env, which `make dev` reads); "
            "until then deliveries are stored and queued, but commands that need GitHub are refused with a clear error"
        )
    if settings.codegen_api_key is None and settings.openai_base_url is None:
        notes.append(
            "CODEGEN_API_KEY and CODEGEN_ORG_ID (codegen.com → settings), or OPENAI_BASE_URL (+ OPENAI_API_KEY) for "
            "any OpenAI-compatible model: needed to dispatch work to an agent"
        )
    return notes


def command_user_note() -> str:
    """As root, validation commands must run as an unprivileged user (RLIMIT_NPROC does not hold
    for root, and root could kill the supervisor): ``VALIDATION_USER``, by default ``nobody``.
    Returns the line to print; when no such user exists, or the stack is not root (commands then
    run as the user holding the secrets), a loud warning."""
    from codeloop.adapters.sandbox import unprivileged_user

    if os.geteuid() != 0:
        return (
            f"WARNING: validation commands run as this user (uid {os.geteuid()}), so a pull request's "
            "commands can read what it can: .env, and the App key in the other codeloop processes' "
            "environments; run `make dev` as root (they then run as VALIDATION_USER), or validate "
            "only pull requests you trust"
        )
    name = os.environ.setdefault("VALIDATION_USER", "nobody")
    try:
        user = unprivileged_user(name)
    except LookupError as problem:
        del os.environ["VALIDATION_USER"]
        return (
            f"WARNING: running as root and {problem}: validation commands run AS ROOT, the process "
            "limit does not hold and a command can escape its supervisor; set VALIDATION_USER to an "
            "unprivileged user"
        )
    assert user is not None
    return (
        f"validation commands run as {user.name} (uid {user.uid}): the tools a repository's commands "
        "use must be readable by that user"
    )


def run() -> int:
    from codeloop.adapters import aws as aws_adapter
    from codeloop.api.front import handle
    from codeloop.db import migrations
    from codeloop.local.http import serve
    from codeloop.local.sample_events import DEV_WEBHOOK_SECRET
    from codeloop.settings import get_settings, reset_settings

    stopping = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    if not os.environ.get("GITHUB_WEBHOOK_SECRET"):
        os.environ["GITHUB_WEBHOOK_SECRET"] = DEV_WEBHOOK_SECRET
        print(
            f"GITHUB_WEBHOOK_SECRET is unset: using the development secret {DEV_WEBHOOK_SECRET!r}", flush=True
        )

    with ExitStack() as stack:
        url, database = _database(stack)
        env, aws_where = _aws(stack)
        sandbox_note = command_user_note()
        reset_settings()
        aws_adapter.reset_clients()
        applied = migrations.migrate(url)
        _sync_prompts()

        for function in dict.fromkeys(CONSUMERS.values()):
            _start_function_process(stack, function, env)

        settings = get_settings()
        warm_front()
        server = serve(handle, "127.0.0.1", settings.codeloop_port, shared_port=True)
        for _ in range(FRONT_PROCESSES - 1):
            _start_process(stack, run_front, (settings.codeloop_port,), "http-front")
        stack.callback(server.server_close)
        stack.callback(server.shutdown)
        stack.callback(stopping.set)
        base = f"http://127.0.0.1:{settings.codeloop_port}"
        print(f"codeloop local stack: PostgreSQL {database}, {len(applied)} migration(s) applied", flush=True)
        print(f"  AWS          {aws_where} (queues, dead-letter queues, state machines)", flush=True)
        print(f"  health       GET  {base}/health", flush=True)
        print(
            f"  webhooks     POST {base}/webhooks/github   (try: codeloop replay events/webhook_issue_comment_fix.json)",
            flush=True,
        )
        print(
            f"  Slack        POST {base}/webhooks/slack/commands and {base}/webhooks/slack/interactions"
            f"  ({'signing secret set' if settings.slack_signing_secret else 'set SLACK_SIGNING_SECRET to use them'})",
            flush=True,
        )
        print(f"  Linear       POST {base}/webhooks/linear   (with LINEAR_WEBHOOK_SECRET and LINEAR_API_KEY)", flush=True)
        print(f"  validation   {sandbox_note}", flush=True)
        print(f"  task API     {base}/api/v1/tasks  (OpenAPI: {base}/api/v1/openapi.json)", flush=True)
        print(f"  dashboard    {base}/app/  (`codeloop dashboard login` prints a sign-in link)", flush=True)
        for note in missing_settings():
            print(f"  needs        {note}", flush=True)
        print("Ctrl-C stops it.", flush=True)
        stopping.wait()
        logger.info("stopping the local stack")
    print("codeloop local stack stopped.", flush=True)
    return 0


def _start_function_process(stack: ExitStack, function: str, env: dict[str, str]) -> None:
    """One process per function, as on AWS: a backlog of one never takes the GIL from another
    (nor from the HTTP front's acknowledgements)."""
    queues = {
        queue: env[f"{queue.upper()}_QUEUE_URL"]
        for queue, (name, _, _) in EVENT_SOURCES.items()
        if name == function
    }
    _start_process(stack, run_function, (function, queues), function)


def _start_process(stack: ExitStack, target: Any, args: tuple[Any, ...], name: str) -> None:
    import multiprocessing

    from codeloop.local.aws import ctrl_c_ignored_by_children

    process = multiprocessing.get_context("spawn").Process(target=target, args=args, name=name, daemon=True)
    with ctrl_c_ignored_by_children():
        process.start()
    stack.callback(process.join, 10)
    stack.callback(process.terminate)


def warm_front() -> None:
    """What a front process needs for its first delivery, before it takes connections: the kernel
    hands a process connections as soon as it listens."""
    from codeloop.api.front import FIRST_DELIVERY_CLIENTS, FIRST_DELIVERY_MODULES
    from codeloop.db.pool import get_pool
    from codeloop.services.snapstart import warm

    warm(FIRST_DELIVERY_MODULES, FIRST_DELIVERY_CLIENTS)
    get_pool().wait(30)


def run_front(port: int) -> None:
    """Another process of the HTTP front, on the same port."""
    from codeloop.api.front import handle
    from codeloop.local.http import serve

    warm_front()
    serve(handle, "127.0.0.1", port, shared_port=True)
    threading.Event().wait()


def run_function(function: str, queues: dict[str, str]) -> None:
    """A function's own process: its handler fed by pollers sized like its event source mappings
    (and, for the status syncer, the sweeper's schedule) until the stack terminates it.

    The validation runner's process has no secrets in its environment, and every orphan of its
    commands reparents to it and is killed between validations."""
    from codeloop.local.handlers import load
    from codeloop.local.pollers import QueuePoller, Schedule

    os.nice(WORKER_NICENESS)
    if function == RUNNER:
        from codeloop.adapters import sandbox
        from codeloop.settings import SECRET_SETTINGS

        for field in SECRET_SETTINGS:
            os.environ.pop(field.upper(), None)
        os.environ.pop("GITHUB_APP_PRIVATE_KEY_PATH", None)
        sandbox.claim_runner_process()
    handler = load(function)
    stopping = threading.Event()
    for queue, url in queues.items():
        _, batch_size, concurrency = EVENT_SOURCES[queue]
        for _ in range(concurrency):
            QueuePoller(queue, url, handler, stopping, batch_size, LONG_POLL_SECONDS).start()
    if function == SWEEPS:
        from codeloop.services.syncer import SWEEPER_SOURCE

        Schedule("sweeper", SWEEP_SECONDS, handler, {"source": SWEEPER_SOURCE}, stopping).start()
    stopping.wait()


def _sync_prompts() -> None:
    """Load prompts/ into the template tables: a changed template becomes a new version."""
    from codeloop.db.pool import transaction
    from codeloop.services.prompting.versions import sync_templates

    with transaction(actor="make dev") as conn:
        sync_templates(conn)
