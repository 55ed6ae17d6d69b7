"""``codeloop deliveries list|show|replay``: the delivery log for operators, straight from the database.

Operators see every delivery (no key scope); a replay is audited as ``cli``.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from codeloop.domain.delivery_log import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, DeliverySource, shown_payload
from codeloop.domain.models import DeliveryStatus


def register(subparsers: Any) -> None:
    """Add ``deliveries list|show|replay`` to the ``codeloop`` command's subparsers."""
    deliveries = subparsers.add_parser("deliveries", help="stored webhook deliveries").add_subparsers(
        dest="deliveries_command", required=True
    )
    listing = deliveries.add_parser("list", help="deliveries, newest first, a page at a time")
    listing.add_argument("--source", choices=[source.value for source in DeliverySource])
    listing.add_argument("--event", help="X-GitHub-Event, e.g. issue_comment")
    listing.add_argument("--action", help="the payload's action, e.g. created")
    listing.add_argument("--repository", metavar="OWNER/NAME")
    listing.add_argument("--status", choices=[status.value for status in DeliveryStatus])
    listing.add_argument("--since", type=datetime.fromisoformat, help="received at or after (ISO 8601)")
    listing.add_argument("--until", type=datetime.fromisoformat, help="received before (ISO 8601)")
    listing.add_argument("--limit", type=_page_size, default=DEFAULT_PAGE_SIZE)
    listing.add_argument("--cursor", help="the cursor printed under the page before")
    listing.set_defaults(handler=_list)
    show = deliveries.add_parser("show", help="one delivery as JSON, with its payload and replays")
    show.add_argument("delivery_id")
    show.set_defaults(handler=_show)
    replay = deliveries.add_parser("replay", help="process a stored delivery again (idempotent)")
    replay.add_argument("delivery_id")
    replay.add_argument("--new-task", action="store_true", help="make new tasks for its commands")
    replay.set_defaults(handler=_replay)


def _page_size(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_PAGE_SIZE:
        raise argparse.ArgumentTypeError(f"a page holds 1 to {MAX_PAGE_SIZE} deliveries")
    return value


def _list(args: argparse.Namespace) -> int:
    from codeloop.db import deliveries_store
    from codeloop.db.pool import transaction
    from codeloop.domain.delivery_log import BadCursor, Cursor, DeliveryFilter

    try:
        after = Cursor.decode(args.cursor) if args.cursor else None
    except BadCursor as bad:
        print(f"codeloop: {bad}", file=sys.stderr)
        return 2
    where = DeliveryFilter.model_validate(vars(args))  # the options are named as the filter's fields
    with transaction() as conn:
        rows = deliveries_store.page(conn, where, scope=None, limit=args.limit + 1, after=after)
    for delivery in rows[: args.limit]:
        kind = f"{delivery.event}.{delivery.action}" if delivery.action else delivery.event
        print(
            f"{delivery.received_at:%Y-%m-%d %H:%M:%S}  {delivery.delivery_id:<38} {delivery.source:<7} "
            f"{kind:<32} {delivery.status:<10} {delivery.repository_full_name or '-'}"
        )
    if len(rows) > args.limit:
        print(f"more: --cursor {Cursor.after(rows[args.limit - 1]).encode()}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from codeloop.db import deliveries_store, store
    from codeloop.db.pool import transaction

    with transaction() as conn:
        delivery = deliveries_store.get(conn, args.delivery_id)
        if delivery is None:
            print(f"codeloop: no delivery {args.delivery_id}", file=sys.stderr)
            return 1
        payload = store.get_delivery_payload(conn, args.delivery_id)
        replays = deliveries_store.replays(conn, args.delivery_id)
    document = delivery.model_dump(mode="json") | {
        "payload": shown_payload(delivery, payload),
        "replays": [replay.model_dump(mode="json") for replay in replays],
    }
    print(json.dumps(document, indent=2))
    return 0


def _replay(args: argparse.Namespace) -> int:
    from codeloop.services.intake.replay import replay_delivery

    outcome = replay_delivery(args.delivery_id, actor="cli", scope=None, new_task=args.new_task)
    if outcome is None:
        print(f"codeloop: no delivery {args.delivery_id}", file=sys.stderr)
        return 1
    print(f"replay {outcome.replay_id} of {outcome.delivery_id}: {outcome.status}")
    if outcome.status == "accepted":
        print("  not sent from here (no events queue reached): the sweeper sends it, as asked, within a minute or two")
    return 0
