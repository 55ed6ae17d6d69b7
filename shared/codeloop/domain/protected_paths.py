"""Paths no agent may change unreviewed, and paths that are not repository paths at all.

Protected: ``.github/workflows/**`` (a workflow runs with the repository's secrets),
``.github/codeloop.yml`` (it decides what validates a pull request), and the globs a repository
adds under ``protected_paths`` in that file. A pull request that changes one is not validated
and not acted on automatically; a diff provider's change to one is refused outright. Nor is one
whose file list GitHub cut short (it lists at most 3,000 files): a protected path may be unlisted.

Unsafe: a path that climbs out of the repository (``..``), is absolute, reaches into ``.git``,
or carries characters a path in a URL or a tree entry should never have.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

ALWAYS_PROTECTED = (".github/workflows/**", ".github/codeloop.yml")
_DRIVE = re.compile(r"^[A-Za-z]:")


@functools.lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """``**`` crosses directories, ``*`` and ``?`` stay within one; a trailing ``/`` means ``/**``."""
    pattern = pattern.strip().lstrip("/")
    if pattern.endswith("/"):
        pattern += "**"
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            parts.append("(?:.*/)?")
            index += 3
        elif pattern.startswith("**", index):
            parts.append(".*")
            index += 2
        elif pattern[index] == "*":
            parts.append("[^/]*")
            index += 1
        elif pattern[index] == "?":
            parts.append("[^/]")
            index += 1
        else:
            parts.append(re.escape(pattern[index]))
            index += 1
    return re.compile("".join(parts))


def glob_matches(pattern: str, path: str) -> bool:
    """Whether ``path`` or one of its parent directories matches ``pattern`` (so ``infra`` covers ``infra/x``)."""
    regex = _glob_regex(pattern)
    segments = path.split("/")
    return any(regex.fullmatch("/".join(segments[:depth])) for depth in range(len(segments), 0, -1))


def protected_by(path: str, repo_patterns: Iterable[str] = ()) -> str | None:
    """The protected-path pattern that covers ``path``, or None."""
    for pattern in (*ALWAYS_PROTECTED, *repo_patterns):
        if glob_matches(pattern, path):
            return pattern
    return None


def protected_changes(paths: Iterable[str], repo_patterns: Iterable[str] = ()) -> dict[str, str]:
    """The protected paths among ``paths``, each with the pattern that protects it (sorted by path)."""
    patterns = tuple(repo_patterns)
    found = {path: protected_by(path, patterns) for path in paths}
    return {path: pattern for path, pattern in sorted(found.items()) if pattern is not None}


def incomplete_file_list(listed: int, changed_files: int | None) -> str | None:
    """Why the ``listed`` files may not be all a pull request changes (GitHub's ``changed_files``,
    None when it did not say), or None when they are."""
    if changed_files is not None and listed >= changed_files:
        return None
    of_total = "of an unknown number of" if changed_files is None else f"of {changed_files}"
    return (
        f"the file list is incomplete (GitHub lists {listed} {of_total} changed files), "
        "so a protected path may be among the unlisted ones"
    )


def unsafe_path_reason(path: str) -> str | None:
    """Why ``path`` is not a plain path inside the repository, or None when it is."""
    if not path:
        return "the path is empty"
    if any(ord(char) < 0x20 or char in "\x7f\\" for char in path):
        return "the path contains a control character or a backslash"
    if path.startswith("/") or _DRIVE.match(path):
        return "absolute paths are refused"
    segments = path.split("/")
    if ".." in segments:
        return "'..' would climb out of the repository"
    if any(segment in ("", ".") for segment in segments):
        return "the path has an empty or '.' segment"
    if any(segment.lower() == ".git" for segment in segments):
        return "paths inside .git/ are refused"
    return None
