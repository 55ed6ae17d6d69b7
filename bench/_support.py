"""What the benchmarks share: a scratch database built from the migrations, and percentiles."""

from __future__ import annotations

import os
import statistics
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
