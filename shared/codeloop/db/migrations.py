"""Numbered SQL migrations: ``NNNN_name.up.sql`` with its ``NNNN_name.down.sql`` rollback.

Each migration runs in its own transaction, under a session advisory lock so two runners never
apply one twice; each applied migration keeps the checksum of its file, and a file edited after
it was applied is refused loudly (write a new migration instead).
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg.rows import tuple_row

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "sql" / "migrations"
LOCK_KEY = 0x636F64656C6F6F70  # "codeloop" as a number: one lock for every runner of this schema
_FILE = re.compile(r"^(\d{4})_(\w+)\.up\.sql$")

_LEDGER = """
create table if not exists codeloop_migrations (
    version     integer primary key,
    name        text not null,
    checksum    text not null,
    applied_at  timestamptz not null default now()
)
"""


class MigrationError(RuntimeError):
    pass


class MigrationEdited(MigrationError):
    """An applied migration's file no longer matches what was applied."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    up_sql: str
    down_sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.up_sql.encode()).hexdigest()

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


@dataclass(frozen=True)
class MigrationState:
    migration: Migration
    applied_at: datetime | None

    @property
    def applied(self) -> bool:
        return self.applied_at is not None


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations = []
    for up in sorted(directory.glob("*.up.sql")):
        match = _FILE.match(up.name)
        if not match:
            raise MigrationError(f"{up.name}: a migration file is named NNNN_name.up.sql")
        down = up.with_name(up.name.replace(".up.sql", ".down.sql"))
        if not down.exists():
            raise MigrationError(f"{up.name} has no rollback: add {down.name}")
        migrations.append(Migration(int(match[1]), match[2], up.read_text(), down.read_text()))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a number in {directory}")
    return migrations


def _locked(conn: psycopg.Connection) -> None:
    conn.autocommit = True
    conn.execute("select pg_advisory_lock(%s)", (LOCK_KEY,))
    conn.execute(_LEDGER)


def _applied(conn: psycopg.Connection) -> dict[int, tuple[str, datetime]]:
    rows = conn.execute("select version, checksum, applied_at from codeloop_migrations").fetchall()
    return {row[0]: (row[1], row[2]) for row in rows}


def _check_unedited(migrations: list[Migration], applied: dict[int, tuple[str, datetime]]) -> None:
    known = {m.version: m for m in migrations}
    for version, (checksum, _) in sorted(applied.items()):
        migration = known.get(version)
        if migration is None:
            raise MigrationError(
                f"migration {version:04d} is applied in the database but its file is missing; "
                "restore it, or roll the database back with the code that has it"
            )
        if migration.checksum != checksum:
            raise MigrationEdited(
                f"migration {migration.label} was edited after it was applied "
                f"(checksum {checksum[:12]} in the database, {migration.checksum[:12]} on disk): "
                "never edit an applied migration; restore the file and add a new migration instead"
            )


def status(url: str, directory: Path = MIGRATIONS_DIR) -> list[MigrationState]:
    migrations = discover(directory)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(_LEDGER)
        applied = _applied(conn)
    _check_unedited(migrations, applied)
    return [MigrationState(m, applied.get(m.version, (None, None))[1]) for m in migrations]


def applied_versions(conn: psycopg.Connection) -> set[int]:
    """The versions applied, read-only (no ledger is created; none when there is no ledger)."""
    with conn.cursor(row_factory=tuple_row) as cursor:
        (ledger,) = cursor.execute("select to_regclass('codeloop_migrations')").fetchone() or (None,)
        if ledger is None:
            return set()
        return {version for (version,) in cursor.execute("select version from codeloop_migrations")}


def pending(url: str, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    return [state.migration for state in status(url, directory) if not state.applied]


def migrate(url: str, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply every pending migration in order; returns what this call applied."""
    migrations = discover(directory)
    done = []
    with psycopg.connect(url) as conn:
        _locked(conn)
        applied = _applied(conn)
        _check_unedited(migrations, applied)
        for migration in migrations:
            if migration.version in applied:
                continue
            with conn.transaction():
                conn.execute(migration.up_sql)
                conn.execute(
                    "insert into codeloop_migrations (version, name, checksum) values (%s, %s, %s)",
                    (migration.version, migration.name, migration.checksum),
                )
            done.append(migration)
    return done


def migrate_when_reachable(url: str, *, deadline_seconds: float, retry_seconds: float) -> list[Migration]:
    """:func:`migrate`, retrying while the server refuses connections (a database that is still
    coming up) for up to ``deadline_seconds``; any other error, or one past the deadline, is raised."""
    started = time.monotonic()
    while True:
        try:
            return migrate(url)
        except psycopg.OperationalError:
            if time.monotonic() - started > deadline_seconds:
                raise
            time.sleep(retry_seconds)


def rollback(url: str, steps: int = 1, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Undo the last ``steps`` applied migrations, newest first; returns what was undone."""
    migrations = {m.version: m for m in discover(directory)}
    undone = []
    with psycopg.connect(url) as conn:
        _locked(conn)
        applied = _applied(conn)
        _check_unedited(list(migrations.values()), applied)
        for version in sorted(applied, reverse=True)[:steps]:
            migration = migrations[version]
            with conn.transaction():
                conn.execute(migration.down_sql)
                conn.execute("delete from codeloop_migrations where version = %s", (version,))
            undone.append(migration)
    return undone
