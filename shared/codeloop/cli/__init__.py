"""The ``codeloop`` console command: operators' tools for the database, keys and the local stack."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from codeloop.db.migrations import MigrationError
from codeloop.settings import SettingsError

if TYPE_CHECKING:
    from psycopg import Connection

    from codeloop.domain.models import ApiKey

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


class ScopeError(ValueError):
    """An API key's scope names an installation or repository codeloop does not know."""


def _scope_ids(conn: Connection, args: argparse.Namespace) -> tuple[list[int], list[int]]:
    """The installation and repository ids a command's --installation / --repository name."""
    from codeloop.db import store

    if not args.installation and not args.repository:
        raise ScopeError("a key needs a scope: --installation ID and/or --repository owner/name")
    for installation_id in args.installation:
        if store.get_installation(conn, installation_id) is None:
            raise ScopeError(
                f"codeloop knows no installation {installation_id} (is the App installed there?)"
            )
    repository_ids = []
    for name in args.repository:
        repository = store.get_repository_by_name(conn, name)
        if repository is None:
            raise ScopeError(f"codeloop knows no repository {name} (is the App installed on it?)")
        repository_ids.append(repository.id)
    return list(args.installation), repository_ids


def _apikey_create(args: argparse.Namespace) -> int:
    from codeloop.db import store
    from codeloop.db.pool import transaction
    from codeloop.domain.api_keys import new_key

    key, prefix, key_hash = new_key()
    with transaction(actor="cli") as conn:
        installation_ids, repository_ids = _scope_ids(conn, args)
        created = store.create_api_key(
            conn,
            args.name,
            prefix,
            key_hash,
            installation_ids=installation_ids,
            repository_ids=repository_ids,
            may_raise_caps=args.may_raise_caps,
        )
        scope = _describe_scope(conn, created)
    raises = " It may raise or lift their spending caps." if created.may_raise_caps else ""
    print(f"API key {args.name!r} created for {scope}.{raises} It is shown only this once:\n{key}")
    return 0


def _apikey_scope(args: argparse.Namespace) -> int:
    from codeloop.db import store
    from codeloop.db.pool import transaction

    with transaction(actor="cli") as conn:
        installation_ids, repository_ids = _scope_ids(conn, args)
        scoped = store.scope_api_key(
            conn, args.name, installation_ids=installation_ids, repository_ids=repository_ids
        )
        scope = _describe_scope(conn, scoped) if scoped else ""
    if scoped is None:
        print(f"codeloop: no live API key named {args.name!r}", file=sys.stderr)
        return 1
    print(f"API key {args.name!r} now reaches {scope}")
    return 0


def _describe_scope(conn: Connection, key: ApiKey) -> str:
    from codeloop.db import store

    if not key.installation_ids and not key.repository_ids:
        return f"nothing (no scope: run 'codeloop apikey scope {key.name} --installation ID')"
    names = [
        repository.full_name
        if (repository := store.get_repository(conn, repository_id))
        else f"#{repository_id}"
        for repository_id in key.repository_ids
    ]
    parts = [f"installation {installation_id}" for installation_id in key.installation_ids] + names
    return ", ".join(parts)


def _apikey_revoke(args: argparse.Namespace) -> int:
    from codeloop.db import store
    from codeloop.db.pool import transaction

    with transaction(actor="cli") as conn:
        revoked = store.revoke_api_key(conn, args.name)
    if revoked is None:
        print(f"codeloop: no live API key named {args.name!r}", file=sys.stderr)
        return 1
    print(f"API key {args.name!r} revoked")
    return 0


def _apikey_list(args: argparse.Namespace) -> int:
    from codeloop.db import store
    from codeloop.db.pool import transaction

    with transaction() as conn:
        for key in store.list_api_keys(conn):
            state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "live"
            used = f"last used {key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never used"
            raises = ", may raise caps" if key.may_raise_caps else ""
            print(
                f"{key.name:<24} cl_{key.prefix}_…  {state:<18} {used:<28} reaches {_describe_scope(conn, key)}{raises}"
            )
    return 0


def _replay(args: argparse.Namespace) -> int:
    import uuid

    import httpx

    from codeloop.domain.webhooks import sign
    from codeloop.local.sample_events import DEV_WEBHOOK_SECRET

    document = json.loads(args.file.read())
    if "x-github-event" in (document.get("headers") or {}):  # an API Gateway event, as in events/
        event_name, payload_text = document["headers"]["x-github-event"], document["body"]
    else:  # a bare webhook payload
        if not args.event:
            print("codeloop: a bare payload needs --event (the X-GitHub-Event name)", file=sys.stderr)
            return 2
        event_name, payload_text = args.event, json.dumps(document)
    secret = os.environ.get("GITHUB_WEBHOOK_SECRET") or DEV_WEBHOOK_SECRET
    body = payload_text.encode()
    port = os.environ.get("CODELOOP_PORT", "3000")
    url = args.url or f"http://127.0.0.1:{port}/webhooks/github"
    headers = {
        "content-type": "application/json",
        "x-github-event": event_name,
        "x-github-delivery": str(uuid.uuid4()),
        "x-hub-signature-256": sign(body, secret),
    }
    try:
        answer = httpx.post(url, content=body, headers=headers, timeout=30)
    except httpx.TransportError as exc:
        print(f"codeloop: cannot reach {url} ({exc}); is `make dev` running?", file=sys.stderr)
        return 1
    print(f"{answer.status_code} {answer.text}")
    return 0 if answer.status_code < 400 else 1


def _config_schema(args: argparse.Namespace) -> int:
    from codeloop.domain.repo_config import json_schema

    print(json.dumps(json_schema(), indent=2, sort_keys=True))
    return 0


def _dev(args: argparse.Namespace) -> int:
    from codeloop.adapters.env_file import load_into_environment
    from codeloop.local.stack import run

    taken = load_into_environment(args.env_file)
    if taken:
        print(f"settings from {args.env_file} (the environment wins): {', '.join(taken)}", flush=True)
    return run()


def _scope_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--installation", type=int, action="append", default=[], metavar="ID",
        help="a GitHub App installation id whose repositories' tasks the key reaches (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--repository", action="append", default=[], metavar="OWNER/NAME",
        help="a repository whose tasks the key reaches (repeatable)",
    )  # fmt: skip


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

    apikey = commands.add_parser("apikey", help="task API keys").add_subparsers(
        dest="apikey_command", required=True
    )
    create = apikey.add_parser(
        "create", help="create a key (printed once) for installations and/or repositories"
    )
    create.add_argument("name", help="who or what will use the key")
    _scope_arguments(create)
    create.add_argument(
        "--may-raise-caps",
        action="store_true",
        help="the operator's key: it may also raise or lift its installations' spending caps (any key may lower them)",
    )
    create.set_defaults(handler=_apikey_create)
    scope = apikey.add_parser("scope", help="replace a key's installations and repositories")
    scope.add_argument("name")
    _scope_arguments(scope)
    scope.set_defaults(handler=_apikey_scope)
    revoke = apikey.add_parser("revoke", help="revoke a key by name")
    revoke.add_argument("name")
    revoke.set_defaults(handler=_apikey_revoke)
    apikey.add_parser("list", help="list keys (never the keys themselves)").set_defaults(handler=_apikey_list)

    replay = commands.add_parser("replay", help="sign a payload file and post it to the running local stack")
    replay.add_argument(
        "file", type=argparse.FileType("r"), help="an API Gateway event (events/) or a bare payload"
    )
    replay.add_argument("--event", help="X-GitHub-Event for a bare payload (e.g. issue_comment)")
    replay.add_argument("--url", help="default http://127.0.0.1:$CODELOOP_PORT/webhooks/github")
    replay.set_defaults(handler=_replay)

    dev = commands.add_parser("dev", help="run the local stack (what `make dev` runs)")
    dev.add_argument(
        "--env-file", type=Path, default=Path(".env"), help="settings to load when it exists (default .env)"
    )
    dev.set_defaults(handler=_dev)

    from codeloop.cli.app import register as register_app
    from codeloop.cli.budgets import register as register_budgets
    from codeloop.cli.dashboard import register as register_dashboard
    from codeloop.cli.deliveries import register as register_deliveries
    from codeloop.cli.identities import register as register_identities
    from codeloop.cli.linear import register as register_linear
    from codeloop.cli.prompts import register as register_prompts
    from codeloop.cli.slack import register as register_slack

    register_prompts(commands)
    register_app(commands)
    register_deliveries(commands)
    register_dashboard(commands)
    register_identities(commands)
    register_slack(commands)
    register_linear(commands)
    register_budgets(commands)

    config = commands.add_parser("config", help="the per-repository configuration")
    config.add_subparsers(dest="config_command", required=True).add_parser(
        "schema", help="print the JSON schema of .github/codeloop.yml"
    ).set_defaults(handler=_config_schema)
    return parser


# Commands that never open the database (`dev` starts its own).
WITHOUT_DATABASE = {"dev", "replay", "config", "app"}


def use_make_dev_database() -> None:
    """With no DATABASE_URL (nor its secret's ARN), the database of ``make dev``'s embedded server
    when it has one, so the operator's commands see what the local stack sees."""
    from codeloop.local import embedded_pg
    from codeloop.settings import reset_settings

    if os.environ.get("DATABASE_URL") or os.environ.get("DATABASE_URL_SECRET_ARN"):
        return
    if not embedded_pg.local_data_dir().is_dir():
        return
    os.environ["DATABASE_URL"] = embedded_pg.url(embedded_pg.start())
    reset_settings()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        if args.command not in WITHOUT_DATABASE:
            use_make_dev_database()
        return handler(args)
    except (SettingsError, MigrationError, ScopeError) as exc:  # an operator's mistake: say it, no traceback
        print(f"codeloop: {exc}", file=sys.stderr)
        return 2

