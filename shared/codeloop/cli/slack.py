"""``codeloop slack channel|channels``: where each repository's (or installation's) task messages go.

An operator's channel for a repository wins over ``notify.slack.channel`` in the repository's
``.github/codeloop.yml``; an installation's channel applies to its repositories that name none.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")


def register(subparsers: Any) -> None:
    """Add ``slack`` (``channel``, ``channels``) to the ``codeloop`` command's subparsers."""
    slack = subparsers.add_parser("slack", help="Slack channels for task messages").add_subparsers(
        dest="slack_command", required=True
    )
    channel = slack.add_parser("channel", help="set (or --clear) the channel of a repository or installation")
    channel.add_argument("target", type=_target, help="owner/repo, or an installation id")
    channel.add_argument("channel", nargs="?", help="#name or a channel id (C…); the bot must be in it")
    channel.add_argument("--clear", action="store_true", help="forget the channel set for the target")
    channel.set_defaults(handler=_channel)
    slack.add_parser("channels", help="list the channels set by operators").set_defaults(handler=_channels)


def _target(text: str) -> tuple[str, str]:
    if text.isdigit():
        return "installation", text
    if _REPOSITORY.match(text):
        return "repository", text
    raise argparse.ArgumentTypeError(f"{text!r} is neither owner/repo nor an installation id")


def _channel(args: argparse.Namespace) -> int:
    from codeloop.db import slack_store
    from codeloop.db.pool import transaction
    from codeloop.domain.repo_config import SlackNotifyConfig

    scope, target = args.target
    if args.clear == bool(args.channel):
        print("codeloop: give a channel, or --clear", file=sys.stderr)
        return 2
    if args.clear:
        with transaction(actor="cli") as conn:
            removed = slack_store.clear_channel(conn, scope, target)
        print(f"{scope} {target}: no channel set any more" if removed else f"{scope} {target} had no channel")
        return 0
    try:
        channel = SlackNotifyConfig(channel=args.channel).channel  # the rule of notify.slack.channel
    except ValueError:
        print(f"codeloop: {args.channel!r} is not a channel: give #name or a channel id (C…)", file=sys.stderr)
        return 2
    with transaction(actor="cli") as conn:
        slack_store.set_channel(conn, scope, target, channel)
    print(f"task messages of {scope} {target} now go to {channel}")
    return 0


def _channels(args: argparse.Namespace) -> int:
    from codeloop.db import slack_store
    from codeloop.db.pool import transaction

    with transaction() as conn:
        for row in slack_store.all_channels(conn):
            print(f"{row.scope:<12} {row.target:<60} {row.channel}")
    return 0
