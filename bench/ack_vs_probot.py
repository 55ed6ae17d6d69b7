"""bench/ack_vs_probot: acknowledgement under load, codeloop's ``make dev`` stack beside a minimal
Probot 14 app (bench/probot/: verifies and routes, persists nothing), in one run.

Both get the same signed issue_comment deliveries ("Looks good to me"; a delivery id of its own
each), ``DELIVERIES`` of them at concurrency ``CONCURRENCY``. codeloop stores and enqueues every
one (checked after the run). Probot is installed from npm into .codeloop/cache/probot the first
time. Aims: codeloop's p99 <= Probot's, codeloop's rate >= half of Probot's, no 5xx.

Each side's CPU time per delivery is printed by process group (from /proc, so run it on an
otherwise idle machine): on a machine of N cores, N s of CPU a second is the ceiling of the rate.

A third run measures the floor under codeloop's figures: the least a Python front can do with
the libraries codeloop must use and still persist and enqueue each delivery (the standard
library's threading HTTP server, the signature, the JSON, one autocommitted psycopg insert, one
botocore SendMessage to the same emulation; no settings, routing, logging or workers), from as
many processes as ``make dev``'s front. Where the floor misses an aim, no design of codeloop's
front on this machine can meet it. Last, it prints the CPU per delivery each aim allows on this
machine's cores beside what the floor spent outside its front (the emulation, PostgreSQL, the
load generator): where that alone is over the budget, the aim is out of reach of any front.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
import psycopg
from _support import cpu_by_group, descendants, dev_stack, drive, free_port, percentiles, signed_comment

from codeloop.local.sample_events import DEV_WEBHOOK_SECRET as SECRET

FLOOR_INSERT = (
    "insert into webhook_deliveries (delivery_id, event, payload, status) values (%s, %s, %s, 'queued') "
    "on conflict do nothing"
)

REPO_ROOT = Path(__file__).resolve().parents[1]
PROBOT_APP = Path(__file__).resolve().parent / "probot"
PROBOT_CACHE = REPO_ROOT / ".codeloop" / "cache" / "probot"

DELIVERIES = 1500
WARMUP = 50
CONCURRENCY = 8


def install_probot() -> Path:
    """Probot 14 and the app's two files in the cache folder (npm install only the first time)."""
    PROBOT_CACHE.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "index.js"):
        shutil.copy(PROBOT_APP / name, PROBOT_CACHE / name)
    if not (PROBOT_CACHE / "node_modules" / "probot").exists():
        print("installing Probot from npm into .codeloop/cache/probot (first run only)", flush=True)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=PROBOT_CACHE, check=True
        )
    return PROBOT_CACHE


def start_probot(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    from tests.fakes.github import app_key_pair

    port = free_port()
    private_pem, _ = app_key_pair()
    env = os.environ | {
        "PORT": str(port),
        "APP_ID": "4242",
        "PRIVATE_KEY": private_pem,
        "WEBHOOK_SECRET": SECRET,
    }
    proc = subprocess.Popen(["node", "index.js"], cwd=folder, env=env, stdout=subprocess.DEVNULL)
    return proc, serving(port, [proc], "Probot")


def serving(port: int, processes: list[subprocess.Popen[bytes]], what: str) -> str:
    """The base URL once something answers on ``port``; the processes are stopped if nothing does."""
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/", timeout=1)
            return base
        except httpx.TransportError:
            time.sleep(0.1)
    for process in processes:
        process.kill()
    raise SystemExit(f"{what} did not start")


def serve_floor(port: int, database_url: str, queue_url: str, endpoint_url: str) -> None:
    """One process of the floor's front (see the module's docstring)."""
    import hashlib
    import hmac
    import json
    import socket
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import botocore.session
    from psycopg.types.json import Jsonb
    from psycopg_pool import ConnectionPool

    pool = ConnectionPool(database_url, min_size=2, max_size=8, kwargs={"autocommit": True})
    sqs = botocore.session.get_session().create_client("sqs", endpoint_url=endpoint_url)
    key = SECRET.encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = -1
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            expected = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, self.headers.get("x-hub-signature-256", "")):
                self._answer(401)
                return
            payload, delivery = json.loads(body), self.headers["x-github-delivery"]
            with pool.connection() as conn:
                conn.execute(FLOOR_INSERT, (delivery, self.headers["x-github-event"], Jsonb(payload)))
            sqs.send_message(
                QueueUrl=queue_url,
                MessageBody=json.dumps({"delivery_id": delivery}),
                MessageGroupId=str(payload["issue"]["number"]),
                MessageDeduplicationId=delivery,
            )
            self._answer(202)

        def do_GET(self) -> None:
            self._answer(200)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def server_bind(self) -> None:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            super().server_bind()

    Server(("127.0.0.1", port), Handler).serve_forever()


def start_floor(
    database_url: str, queue_url: str, endpoint_url: str
) -> tuple[list[subprocess.Popen[bytes]], str]:
    from codeloop.local.stack import FRONT_PROCESSES

    port = free_port()
    command = [sys.executable, __file__, "--floor", str(port), database_url, queue_url, endpoint_url]
    processes = [subprocess.Popen(command) for _ in range(FRONT_PROCESSES)]
    return processes, serving(port, processes, "the floor's front")


def server_groups(server_pid: int):
    """A ``cpu_by_group`` classifier for the server under test (its process tree) and PostgreSQL.

    codeloop's tree splits into the HTTP front (what acknowledges), the AWS emulation (moto, which
    AWS runs on its own machines) and the workers (niced; they act on what was queued)."""
    tree = descendants(server_pid)

    def classify(pid: int, parent: int, nice: int, command: str) -> str | None:
        if pid in tree:
            if "codeloop.local.aws" in command:
                return "AWS emulation"
            return "workers" if nice >= 10 else "HTTP front"
        if command.startswith("postgres"):
            return "PostgreSQL"
        return None

    return classify


def floor_groups(front_pids: list[int], emulation_pid: int):
    def classify(pid: int, parent: int, nice: int, command: str) -> str | None:
        if pid in front_pids:
            return "HTTP front"
        if pid == emulation_pid:
            return "AWS emulation"
        if command.startswith("postgres"):
            return "PostgreSQL"
        return None

    return classify


def run(name: str, url: str, prefix: str, classify) -> tuple[float, float, dict[int, int], dict[str, float]]:
    """Drive ``url``; returns the rate, the p99, the statuses and the CPU ms per delivery by group."""

    def deliveries(tag: str, count: int) -> list[tuple[bytes, dict[str, str]]]:
        return [
            signed_comment(f"{prefix}-{tag}-{i}", i + 1, "Looks good to me", SECRET) for i in range(count)
        ]

    drive(url, deliveries("warmup", WARMUP), CONCURRENCY)
    requests = deliveries("run", DELIVERIES)
    before, generator = cpu_by_group(classify), time.process_time()
    latencies, statuses, wall = drive(url, requests, CONCURRENCY)
    after, generator = cpu_by_group(classify), time.process_time() - generator
    counts = {status: statuses.count(status) for status in sorted(set(statuses))}
    rate = DELIVERIES / wall
    ordered = sorted(latencies)
    print(
        f"{name:10s} {rate:7.1f} /s   {percentiles(latencies)}   max {ordered[-1]:7.1f} ms   statuses {counts}"
    )
    spent = {group: (after[group] - before.get(group, 0.0)) * 1000 / DELIVERIES for group in after}
    spent["load generator"] = generator * 1000 / DELIVERIES
    total = sum(spent.values())
    parts = ", ".join(f"{group} {ms:.2f}" for group, ms in sorted(spent.items(), key=lambda item: -item[1]))
    print(
        f"{'':10s} CPU per delivery: {total:.2f} ms ({parts}); "
        f"{os.cpu_count()} cores cap the rate near {os.cpu_count() * 1000 / total:.0f} /s"
    )
    return rate, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], counts, spent


def main() -> None:
    folder = install_probot()
    probot, probot_url = start_probot(folder)
    try:
        print(
            f"{DELIVERIES} signed issue_comment deliveries at concurrency {CONCURRENCY} (after {WARMUP} warm-up)"
        )
        probot_rate, probot_p99, _, _ = run(
            "Probot 14", f"{probot_url}/webhooks/github", "probot", server_groups(probot.pid)
        )
    finally:
        probot.send_signal(signal.SIGTERM)
        probot.wait(10)
    with dev_stack() as (base, database, stack_pid):
        rate, p99, counts, _ = run(
            "codeloop", f"{base}/webhooks/github", "codeloop", server_groups(stack_pid)
        )
        with psycopg.connect(database) as conn:
            stored, unqueued = conn.execute(
                "select count(*), count(*) filter (where status = 'received') from webhook_deliveries "
                "where delivery_id like 'codeloop-run-%'"
            ).fetchone()
    print(f"codeloop stored {stored} of {DELIVERIES} deliveries; {unqueued} left unqueued")
    floor_rate, floor_p99, floor_spent = run_floor()
    print(
        f"aims: p99 {p99:.1f} <= {probot_p99:.1f} ms: {'met' if p99 <= probot_p99 else 'MISSED'}; "
        f"rate {rate:.1f} >= {probot_rate / 2:.1f} /s: {'met' if rate >= probot_rate / 2 else 'MISSED'}; "
        f"5xx: {sum(n for s, n in counts.items() if s >= 500)}"
    )
    print(
        f"the floor: p99 {floor_p99:.1f} ms, rate {floor_rate:.1f} /s "
        f"(codeloop: {p99 / floor_p99:.1f}x the floor's p99, {rate / floor_rate:.0%} of its rate)"
    )
    print_budget(probot_rate, probot_p99, floor_spent)


def print_budget(probot_rate: float, probot_p99: float, floor_spent: dict[str, float]) -> None:
    """What the aims leave for each delivery's CPU on this machine, beside what the floor spent
    outside any front: the emulated SendMessage, PostgreSQL's insert and the load generator.

    At a rate r on N cores, a delivery can use at most N/r of CPU. With CONCURRENCY requests always
    in flight, the mean latency is CONCURRENCY/r (Little's law) and the p99 is at least the mean,
    so a p99 of P needs r >= CONCURRENCY/P."""
    cores = os.cpu_count() or 1
    rate_budget = cores * 1000 / (probot_rate / 2)
    p99_budget = cores * probot_p99 / CONCURRENCY
    outside_front = sum(ms for group, ms in floor_spent.items() if group != "HTTP front")
    print(
        f"CPU per delivery the aims allow on {cores} cores: {rate_budget:.2f} ms (the rate), "
        f"{p99_budget:.2f} ms (the p99); the floor spent {outside_front:.2f} ms outside its front "
        f"(AWS emulation, PostgreSQL, load generator) before any front code"
    )


def run_floor() -> tuple[float, float, dict[str, float]]:
    from _support import scratch_database

    from codeloop.local import aws as local_aws

    emulation = local_aws.start_emulation()
    try:
        with scratch_database() as database:
            queue_url = local_aws.provision(emulation.endpoint_url)["EVENTS_QUEUE_URL"]
            processes, base = start_floor(database, queue_url, emulation.endpoint_url)
            try:
                classify = floor_groups([process.pid for process in processes], emulation.process.pid)
                rate, p99, _, spent = run("floor", f"{base}/webhooks/github", "floor", classify)
            finally:
                for process in processes:
                    process.kill()
                    process.wait()
            with psycopg.connect(database) as conn:
                [stored] = conn.execute(
                    "select count(*) from webhook_deliveries where delivery_id like 'floor-run-%'"
                ).fetchone()
            print(f"the floor stored {stored} of {DELIVERIES} deliveries")
            return rate, p99, spent
    finally:
        emulation.stop()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--floor"]:  # one process of the floor's front (start_floor)
        serve_floor(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
    else:
        main()
