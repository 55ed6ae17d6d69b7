"""The local stack's ``.env``: written by ``codeloop app create``, read by ``make dev``.

Values are written double-quoted with ``\\n`` escapes (a PEM key stays on one line) and parsed
back with python-dotenv. The file holds secrets: it is created with mode 0600 and replaced
atomically, and the lines of settings it does not set are kept as they were.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path

FILE_MODE = 0o600


def quote_value(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "")
    return f'"{escaped}"'


def write_settings(path: Path, values: Mapping[str, str]) -> None:
    """Set ``values`` in the file at ``path`` (created if missing), keeping its other lines."""
    from dotenv.parser import parse_stream

    kept: list[str] = []
    if path.exists():
        for binding in parse_stream(io.StringIO(path.read_text())):
            if binding.key not in values:
                line = binding.original.string
                kept.append(line if line.endswith("\n") else line + "\n")
    lines = kept + [f"{name}={quote_value(value)}\n" for name, value in values.items()]
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.writelines(lines)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    os.chmod(path, FILE_MODE)  # exactly 0600, whatever the umask took away


def read_settings(path: Path) -> dict[str, str]:
    from dotenv import dotenv_values

    return {name: value for name, value in dotenv_values(path).items() if value is not None}


def load_into_environment(path: Path) -> list[str]:
    """Put the file's settings into ``os.environ`` where the environment has none (it wins).

    Returns the names taken from the file; nothing when the file does not exist.
    """
    if not path.is_file():
        return []
    taken = []
    for name, value in read_settings(path).items():
        if name not in os.environ:
            os.environ[name] = value
            taken.append(name)
    return taken
