"""``codeloop dashboard login``: a one-time link that signs an operator into the dashboard.

It works without GitHub OAuth (the local stack, or a deployment before its OAuth client is set).
An operator sees every installation; their actions are audited as ``dashboard:operator``.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add ``dashboard login`` to the ``codeloop`` command's subparsers."""
    dashboard = subparsers.add_parser("dashboard", help="the web dashboard (/app/)").add_subparsers(
        dest="dashboard_command", required=True
    )
    login = dashboard.add_parser("login", help="print a one-time sign-in link for an operator (15 minutes)")
    login.add_argument(
        "--url", help="the dashboard's origin (default http://127.0.0.1:$CODELOOP_PORT; on AWS the ApiUrl output)"
    )
    login.set_defaults(handler=_login)


def _login(args: argparse.Namespace) -> int:
    from codeloop.services.dashboard.access import LOGIN_LINK_LIFETIME, create_login_link
    from codeloop.settings import get_settings

    base = args.url or f"http://127.0.0.1:{get_settings().codeloop_port}"
    link = create_login_link(base)
    minutes = int(LOGIN_LINK_LIFETIME.total_seconds() // 60)
    print(f"Open this link within {minutes} minutes; it works once:\n{link}")
    return 0
