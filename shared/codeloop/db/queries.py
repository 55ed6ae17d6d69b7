"""Named SQL queries: plain SQL files under ``sql/queries/``, one query per ``-- name:`` block.

    -- name: get_task
    -- Read one task.
    select * from tasks where id = %(id)s;

Parameters use psycopg's ``%(name)s`` style. Queries are loaded once, at first use. A query is
named ``<file stem>.<name>``; its plain name works too while only one file uses it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from psycopg import Connection
from psycopg.types.json import Jsonb

if TYPE_CHECKING:  # the rows' models; importing pydantic is no part of storing a delivery
    from pydantic import BaseModel

M = TypeVar("M", bound="BaseModel")

QUERIES_DIR = Path(__file__).resolve().parent.parent / "sql" / "queries"
_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


class UnknownQuery(KeyError):
    pass


def parse_queries(text: str, source: str = "<text>") -> dict[str, str]:
    parts = _NAME.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        sql = "\n".join(line for line in body.strip().splitlines() if not line.lstrip().startswith("--"))
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice in {source}")
        queries[name] = sql.strip().rstrip(";")
    return queries


@functools.cache
def file_queries(stem: str) -> dict[str, str]:
    """The queries of ``sql/queries/<stem>.sql`` by name (none if there is no such file): a
    qualified name reads its own file only, as the first delivery of a cold start does."""
    path = QUERIES_DIR / f"{stem}.sql"
    return parse_queries(path.read_text(), path.name) if path.is_file() else {}


@functools.cache
def all_queries() -> dict[str, str]:
    """Every query by its qualified name, ``<file stem>.<name>``."""
    return {
        f"{path.stem}.{name}": sql
        for path in sorted(QUERIES_DIR.glob("*.sql"))
        for name, sql in file_queries(path.stem).items()
    }


@functools.cache
def _by_plain_name() -> dict[str, list[str]]:
    names: dict[str, list[str]] = {}
    for qualified in all_queries():
        names.setdefault(qualified.split(".", 1)[1], []).append(qualified)
    return names


def query(name: str) -> str:
    """A query by ``<file>.<name>``, or by its plain name when only one file defines it."""
    if "." in name:
        stem, _, plain = name.partition(".")
        try:
            return file_queries(stem)[plain]
        except KeyError:
            raise UnknownQuery(f"no named query {name!r} under {QUERIES_DIR}") from None
    candidates = _by_plain_name().get(name, [])
    if len(candidates) == 1:
        return all_queries()[candidates[0]]
    if not candidates:
        raise UnknownQuery(f"no named query {name!r} under {QUERIES_DIR}")
    raise UnknownQuery(
        f"query name {name!r} is defined in several files; name one of {', '.join(candidates)}"
    )


def json_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-shaped values travel as jsonb; everything else as psycopg adapts it."""
    return {key: Jsonb(value) if isinstance(value, dict | list) else value for key, value in params.items()}


def fetch_one(conn: Connection, query_name: str, model: type[M], /, **params: Any) -> M | None:
    """Run a named query; its first row as ``model``, or None."""
    row = conn.execute(query(query_name), json_params(params)).fetchone()
    return model.model_validate(row) if row else None


def fetch_all(conn: Connection, query_name: str, model: type[M], /, **params: Any) -> list[M]:
    """Run a named query; every row as ``model``."""
    return [
        model.model_validate(row) for row in conn.execute(query(query_name), json_params(params)).fetchall()
    ]
