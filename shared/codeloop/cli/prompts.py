"""``codeloop prompts …``: sync the shipped templates into the version store, list them, roll one back."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    """Add ``prompts sync|list|rollback`` to the ``codeloop`` command's subparsers."""
    prompts = subparsers.add_parser("prompts", help="prompt template versions").add_subparsers(
        dest="prompts_command", required=True
    )
    prompts.add_parser(
        "sync", help="load prompts/ into the database (new versions for changed templates)"
    ).set_defaults(handler=_sync)
    prompts.add_parser(
        "list", help="templates, their versions, the active one, each version's quality score"
    ).set_defaults(handler=_list)
    rollback = prompts.add_parser("rollback", help="serve an earlier version of a template")
    rollback.add_argument("template_id")
    rollback.add_argument(
        "--to",
        required=True,
        type=_version,
        help="the version to serve, or 'latest' to follow the newest again",
    )
    rollback.set_defaults(handler=_rollback)


def _version(text: str) -> int | None:
    if text == "latest":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("a version number (1, 2, …) or 'latest'") from None
    if value < 1:
        raise argparse.ArgumentTypeError("versions start at 1")
    return value


def _sync(args: argparse.Namespace) -> int:
    from codeloop.db.pool import transaction
    from codeloop.services.prompting.versions import sync_templates

    with transaction(actor="cli") as conn:
        summary = sync_templates(conn)
    for item in summary.templates:
        version = f"v{item.version}" if item.version else ""
        note = f"  ({item.note})" if item.note else ""
        print(f"{item.template_id:<24} {item.outcome:<12} {version}{note}")
    print(f"prompts synced: {summary.describe()}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from codeloop.db import prompts_store, stats_store
    from codeloop.db.pool import transaction

    with transaction() as conn:
        rows = prompts_store.summaries(conn)
        scores = stats_store.prompt_quality(conn)
    if not rows:
        print("no prompt templates: run `codeloop prompts sync`")
        return 0
    print(f"{'template':<24} {'versions':>8} {'serving':>8} {'synced':>7}  task types")
    for row in rows:
        serving = "retired" if row.retired_at else f"v{row.active_version or row.latest_version}"
        if row.active_version is not None and not row.retired_at:
            serving += "*"
        synced = f"v{row.synced_version}" if row.synced_version else "-"
        print(f"{row.id:<24} {row.versions:>8} {serving:>8} {synced:>7}  {', '.join(row.task_types)}")
    if any(row.active_version is not None for row in rows):
        print("* rolled back: later versions are withdrawn until the file changes or `--to latest`")
    if scores:
        print("\nquality score: green within budget, posterior mean [95 % interval] (green / outcomes)")
        for score in scores:
            print(
                f"{score.template_id + ' v' + str(score.version):<24} {score.mean:.2f} "
                f"[{score.low:.2f}, {score.high:.2f}]  ({score.green} / {score.green + score.not_green})"
            )
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from codeloop.db.pool import transaction
    from codeloop.services.prompting.versions import PromptVersionError, rollback

    try:
        with transaction(actor="cli") as conn:
            active = rollback(conn, args.template_id, args.to, actor="cli")
    except PromptVersionError as exc:
        print(f"codeloop: {exc}", file=sys.stderr)
        return 1
    serving = f"v{active}" if active is not None else "the latest version"
    print(f"prompt template {args.template_id!r} now serves {serving}")
    return 0
