"""The ``codeloop`` console command: operators' tools for the database, keys and the local stack."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from codeloop.db.migrations import MigrationError
from codeloop.settings import SettingsError

Handler = Callable[[argparse.Namespace], int]


def _database_url() -> str:
    from codeloop.db.pool import database_url

    return database_url()


def _db_migrate(args: argparse.Namespace) -> int:
    from codeloop.db import migrations

    applied = migrations.migrate(_database_url())
    for migration in applied:
        print(f"applied  {migration.label}")
    print(f"{len(applied)} migration(s) applied; the database is current")
    return 0


def _db_status(args: argparse.Namespace) -> int:
    from codeloop.db import migrations

    states = migrations.status(_database_url())
    for state in states:
        when = state.applied_at.isoformat(timespec="seconds") if state.applied_at else "pending"
        print(f"{state.migration.label:<40} {when}")
    pending = sum(not state.applied for state in states)
    print(f"{len(states) - pending} applied, {pending} pending")
    return 0


def _db_rollback(args: argparse.Namespace) -> int:
    from codeloop.db import migrations

    undone = migrations.rollback(_database_url(), steps=args.steps)
    for migration in undone:
        print(f"rolled back  {migration.label}")
    if not undone:
        print("nothing to roll back")
    return 0


def _config_schema(args: argparse.Namespace) -> int:
    from codeloop.domain.repo_config import json_schema

    print(json.dumps(json_schema(), indent=2, sort_keys=True))
    return 0


def _dev(args: argparse.Namespace) -> int:
    from codeloop.local.stack import run

    return run()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="codeloop", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    db = commands.add_parser("db", help="database migrations").add_subparsers(
        dest="db_command", required=True
    )
    db.add_parser("migrate", help="apply pending migrations").set_defaults(handler=_db_migrate)
    db.add_parser("status", help="list applied and pending migrations").set_defaults(handler=_db_status)
    rollback = db.add_parser("rollback", help="undo the newest applied migration(s)")
    rollback.add_argument("--steps", type=int, default=1, help="how many migrations to undo (default 1)")
    rollback.set_defaults(handler=_db_rollback)

    commands.add_parser("dev", help="run the local stack (what `make dev` runs)").set_defaults(handler=_dev)

    config = commands.add_parser("config", help="the per-repository configuration")
    config.add_subparsers(dest="config_command", required=True).add_parser(
        "schema", help="print the JSON schema of .github/codeloop.yml"
    ).set_defaults(handler=_config_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except (SettingsError, MigrationError) as exc:  # an operator's mistake: say it, no traceback
        print(f"codeloop: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
