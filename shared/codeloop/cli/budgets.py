"""``codeloop budget set``: an installation's spending caps, as the operator sets them.

The caps bound what an installation spends of the operator's accounts per UTC day and month. An
API key of the installation may only lower them (``PUT /api/v1/installations/{id}/budget``);
raising one, lifting it (``unlimited``) or handing it back to the setting (``none``) is this
command's.
"""

from __future__ import annotations

import argparse
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from codeloop.domain.costs import NO_CAP, CapsOverride, cap_flag

NONE = "none"


def register(subparsers: Any) -> None:
    """Add ``budget set`` to the ``codeloop`` command's subparsers."""
    budget = subparsers.add_parser("budget", help="installations' spending caps").add_subparsers(
        dest="budget_command", required=True
    )
    set_ = budget.add_parser("set", help="set an installation's caps in USD (a cap not given stays)")
    set_.add_argument("installation", type=int, help="the installation id")
    for field in CapsOverride.model_fields:
        set_.add_argument(
            f"--{cap_flag(field)}",
            dest=field,
            type=_usd,
            help=f"USD; {NO_CAP!r}: no cap for this installation; {NONE!r}: the setting's default",
        )
    set_.set_defaults(handler=_set)


def _usd(text: str) -> Decimal | str:
    if text.lower() in (NONE, NO_CAP):
        return text.lower()
    try:
        return CapsOverride(max_usd_per_day=Decimal(text)).max_usd_per_day  # the API's own rule
    except (InvalidOperation, ValidationError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an amount of USD above 0 and below a billion (to the millionth), "
            f"{NO_CAP!r} or {NONE!r}"
        ) from None


def _set(args: argparse.Namespace) -> int:
    from codeloop.services.costs import budgets

    given = {field: getattr(args, field) for field in CapsOverride.model_fields}
    caps = CapsOverride.model_validate(
        {field: None if value == NONE else value for field, value in given.items()}
    )
    unnamed = [field for field, value in given.items() if value is None]  # a cap not named stays as it is
    print(
        json.dumps(
            budgets.set_installation_budget(args.installation, caps, "cli", may_raise=True, keep=unnamed),
            indent=2,
        )
    )
    return 0
