"""What the benchmarks share: a scratch database built from the migrations, percentiles, the
``make dev`` stack, a load generator, and CPU time per process group (from /proc)."""

from __future__ import annotations

import os
import statistics
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from codeloop.db import migrations


@contextmanager
def scratch_database() -> Iterator[str]:
    """A fresh, migrated database on DATABASE_URL's server, or on an embedded one; dropped after."""
    admin = os.environ.get("DATABASE_URL")
    with tempfile.TemporaryDirectory(prefix="codeloop-bench-pg-") as data_dir:
        server = None
        if not admin:
            from codeloop.local import embedded_pg

            server = embedded_pg.start(Path(data_dir), cleanup="delete")
            admin = embedded_pg.url(server)
        name = f"codeloop_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'create database "{name}"')
        url = make_conninfo(admin, dbname=name)
        try:
            migrations.migrate(url)
            yield url
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'drop database if exists "{name}" with (force)')
            if server is not None:
                server.cleanup()


def percentiles(samples_ms: list[float]) -> str:
    ordered = sorted(samples_ms)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered):7.3f} ms   p99 {p99:7.3f} ms   (n={len(ordered)})"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def dev_stack(env: dict[str, str] | None = None) -> Iterator[tuple[str, str, int]]:
    """``codeloop dev`` (what ``make dev`` runs) on a scratch database; yields its base URL, the
    database's, and the stack's process id."""
    import shutil
    import signal
    import subprocess
    import sys
    import time

    import httpx

    with scratch_database() as url, tempfile.TemporaryDirectory(prefix="codeloop-bench-dev-") as cwd:
        port = free_port()
        child_env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
        child_env |= {"CODELOOP_PORT": str(port), "DATABASE_URL": url, "POWERTOOLS_LOG_LEVEL": "WARNING"}
        child_env |= env or {}
        log = open(Path(cwd) / "dev.log", "w+")  # noqa: SIM115 (read back on failure)
        proc = subprocess.Popen(
            [sys.executable, "-m", "codeloop.cli", "dev"], env=child_env, cwd=cwd, stdout=log, stderr=log
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise SystemExit(f"codeloop dev did not come up:\n{log.read()[-3000:]}")
                try:
                    if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            yield base, url, proc.pid
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
            if os.environ.get("BENCH_DEV_LOG"):  # where to keep the stack's output
                shutil.copy(Path(cwd) / "dev.log", os.environ["BENCH_DEV_LOG"])


def drive(
    url: str, requests: list[tuple[bytes, dict[str, str]]], concurrency: int
) -> tuple[list[float], list[int], float]:
    """POST every (body, headers) to ``url`` from ``concurrency`` keep-alive connections.

    Returns each request's latency (ms), each status, and the wall time (s)."""
    import http.client
    import threading
    import time
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    latencies: list[float] = [0.0] * len(requests)
    statuses: list[int] = [0] * len(requests)
    cursor = iter(range(len(requests)))
    lock = threading.Lock()

    def worker() -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        while True:
            with lock:
                index = next(cursor, None)
            if index is None:
                break
            body, headers = requests[index]
            start = time.perf_counter()
            try:
                conn.request("POST", parts.path, body, headers)
                response = conn.getresponse()
                response.read()
                statuses[index] = response.status
            except OSError:
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
                statuses[index] = 599
            latencies[index] = (time.perf_counter() - start) * 1000
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, statuses, time.perf_counter() - start


def signed_comment(
    delivery_id: str, comment_id: int, text: str, secret: str, issue: int = 1
) -> tuple[bytes, dict[str, str]]:
    """GitHub's example issue_comment delivery (events/), with this comment text, made distinct by
    its delivery id (the receiver takes the same body under another id for a replay), signed."""
    import json

    from codeloop.domain.webhooks import sign
    from codeloop.local.sample_events import EVENTS_DIR

    sample = json.loads((EVENTS_DIR / "webhook_issue_comment_fix.json").read_text())
    payload = json.loads(sample["body"])
    payload["comment"]["body"] = text
    payload["comment"]["node_id"] = delivery_id
    payload["comment"]["id"] = comment_id
    payload["issue"]["number"] = issue
    body = json.dumps(payload).encode()
    headers = {
        "content-type": "application/json",
        "user-agent": "GitHub-Hookshot/bench",
        "x-github-event": "issue_comment",
        "x-github-delivery": delivery_id,
        "x-hub-signature-256": sign(body, secret),
    }
    return body, headers


def _stat(pid: int | str) -> list[str] | None:
    """/proc/PID/stat's fields after the command name (field 3 onwards), or None once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def cpu_by_group(classify: Any) -> dict[str, float]:
    """CPU seconds (user + system) used so far by every live process, summed per group:
    ``classify(pid, parent_pid, nice, command_line)`` names a process's group, or None to skip it."""
    ticks = os.sysconf("SC_CLK_TCK")
    totals: dict[str, float] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or (fields := _stat(entry.name)) is None:
            continue
        try:
            command = Path(f"/proc/{entry.name}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        group = classify(int(entry.name), int(fields[1]), int(fields[16]), command)
        if group is not None:
            totals[group] = totals.get(group, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return totals


def descendants(root: int) -> set[int]:
    """``root`` and every process under it."""
    parents = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (fields := _stat(entry.name)) is not None:
            parents[int(entry.name)] = int(fields[1])
    tree = {root}
    while grown := {pid for pid, parent in parents.items() if parent in tree} - tree:
        tree |= grown
    return tree
