"""``codeloop link|unlink|links``: which GitHub login a Linear or Slack user acts as.

A request from Linear or Slack is allowed only for a linked user, and only as far as the linked
login's permission on the repository goes (the rule for comments on GitHub).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from codeloop.domain.markdown import is_github_login
from codeloop.domain.models import IdentityProvider

_PROVIDERS = [provider.value for provider in IdentityProvider]


def register(subparsers: Any) -> None:
    """Add ``link``, ``unlink`` and ``links`` to the ``codeloop`` command's subparsers."""
    link = subparsers.add_parser("link", help="let a Linear or Slack user act as a GitHub login")
    link.add_argument("provider", choices=_PROVIDERS)
    link.add_argument("user_id", help="the Linear user id, or the Slack user id (U…)")
    link.add_argument("github_login", type=_github_login)
    link.set_defaults(handler=_link)
    unlink = subparsers.add_parser("unlink", help="forget a Linear or Slack user's GitHub login")
    unlink.add_argument("provider", choices=_PROVIDERS)
    unlink.add_argument("user_id")
    unlink.set_defaults(handler=_unlink)
    links = subparsers.add_parser("links", help="list linked Linear and Slack users")
    links.add_argument("--provider", choices=_PROVIDERS)
    links.set_defaults(handler=_links)


def _github_login(text: str) -> str:
    login = text.removeprefix("@")
    if not is_github_login(login):
        raise argparse.ArgumentTypeError(f"{text!r} is not a GitHub login")
    return login


def _link(args: argparse.Namespace) -> int:
    from codeloop.db import identities_store
    from codeloop.db.pool import transaction

    provider = IdentityProvider(args.provider)
    with transaction(actor="cli") as conn:
        identity = identities_store.link(conn, provider, args.user_id, args.github_login)
    print(f"{provider.value} user {identity.external_id} now acts as GitHub user {identity.github_login}")
    return 0


def _unlink(args: argparse.Namespace) -> int:
    from codeloop.db import identities_store
    from codeloop.db.pool import transaction

    with transaction(actor="cli") as conn:
        removed = identities_store.unlink(conn, IdentityProvider(args.provider), args.user_id)
    if removed is None:
        print(f"codeloop: no {args.provider} user {args.user_id} is linked", file=sys.stderr)
        return 1
    print(f"{args.provider} user {args.user_id} is no longer linked to {removed.github_login}")
    return 0


def _links(args: argparse.Namespace) -> int:
    from codeloop.db import identities_store
    from codeloop.db.pool import transaction

    provider = IdentityProvider(args.provider) if args.provider else None
    with transaction() as conn:
        for identity in identities_store.all_links(conn, provider):
            print(
                f"{identity.provider.value:<7} {identity.external_id:<40} {identity.github_login:<40}"
                f" linked by {identity.linked_by} {identity.updated_at:%Y-%m-%d}"
            )
    return 0
