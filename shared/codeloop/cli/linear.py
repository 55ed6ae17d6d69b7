"""``codeloop linear map|unmap|list``: which GitHub repository a Linear team (or project) asks work of.

An issue of a mapped team labelled ``codeloop``, or commented ``/codeloop fix``, becomes a task on
that repository. A project's own mapping wins over its team's. ``--done-state`` names the
workflow state the issue moves to when its task ends green (none: the issue stays where it is).
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from codeloop.domain.linear import TEAM_KEY_PATTERN

_TEAM_KEY = re.compile(TEAM_KEY_PATTERN)
_REPOSITORY = re.compile(r"[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}")


def register(subparsers: Any) -> None:
    """Add ``linear map|unmap|list`` to the ``codeloop`` command's subparsers."""
    linear = subparsers.add_parser(
        "linear", help="Linear teams mapped to GitHub repositories"
    ).add_subparsers(dest="linear_command", required=True)
    map_ = linear.add_parser("map", help="send a Linear team's (or project's) requests to a repository")
    map_.add_argument("team", type=_team_key, help="the Linear team's key, e.g. ENG")
    map_.add_argument("repository", type=_repository, help="owner/repo on GitHub")
    map_.add_argument("--project", default="", help="only this project of the team (its id or name)")
    map_.add_argument("--done-state", help="move the issue to this workflow state when its task ends green")
    map_.set_defaults(handler=_map)
    unmap = linear.add_parser("unmap", help="forget a team's (or project's) repository")
    unmap.add_argument("team", type=_team_key)
    unmap.add_argument("--project", default="")
    unmap.set_defaults(handler=_unmap)
    linear.add_parser("list", help="list the mappings").set_defaults(handler=_list)


def _team_key(text: str) -> str:
    if not _TEAM_KEY.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a Linear team key (letters and digits, e.g. ENG)")
    return text.upper()


def _repository(text: str) -> str:
    if not _REPOSITORY.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not owner/repo")
    return text


def _where(team: str, project: str) -> str:
    return f"team {team}" + (f" project {project!r}" if project else "")


def _map(args: argparse.Namespace) -> int:
    from codeloop.db import linear_store
    from codeloop.db.pool import transaction

    with transaction(actor="cli") as conn:
        mapping = linear_store.map_team(
            conn, args.team, args.repository, project=args.project, done_state=args.done_state
        )
    done = f"; done state {mapping.done_state!r}" if mapping.done_state else ""
    print(
        f"Linear {_where(mapping.team_key, mapping.project)} now asks work of {mapping.repository_full_name}{done}"
    )
    return 0


def _unmap(args: argparse.Namespace) -> int:
    from codeloop.db import linear_store
    from codeloop.db.pool import transaction

    with transaction(actor="cli") as conn:
        removed = linear_store.unmap_team(conn, args.team, project=args.project)
    if removed is None:
        print(f"codeloop: Linear {_where(args.team, args.project)} is not mapped", file=sys.stderr)
        return 1
    print(
        f"Linear {_where(removed.team_key, removed.project)} no longer asks work of {removed.repository_full_name}"
    )
    return 0


def _list(args: argparse.Namespace) -> int:
    from codeloop.db import linear_store
    from codeloop.db.pool import transaction

    with transaction() as conn:
        for mapping in linear_store.mappings(conn):
            print(
                f"{mapping.team_key:<10} {mapping.project or '(whole team)':<30} {mapping.repository_full_name:<60}"
                f" {mapping.done_state or '-'}"
            )
    return 0
