"""Unified diffs from a model's answer: extract, parse, and apply them to file contents.

Models write diffs loosely: wrong line numbers, wrong hunk counts, blank context lines without
their leading space, several fenced blocks. The parser and the applier accept those, and refuse
anything they cannot place exactly, with an error that names the file and the hunk.

A diff is untrusted input whose paths end up in GitHub API URLs and tree entries, so before any
file is read the applier refuses (``DiffRefused``, naming the path and the rule): unsafe paths
(``..``, absolute, ``.git/``), protected paths (domain/protected_paths.py), symlinks and
submodules, binary patches, and diffs over ``PatchRules``' caps on files and bytes. File modes
the diff sets (``100644``/``100755``) are kept in ``AppliedDiff.modes``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from codeloop.domain.protected_paths import protected_by, unsafe_path_reason

_HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_FENCE_OPEN = re.compile(r"^```[ \t]*([\w+-]*)")
_DIFF_START = re.compile(r"^(diff --git |--- \S|@@ -\d)", re.MULTILINE)
_NO_NEWLINE = "\\"


class DiffProblem(ValueError):
    """A diff cannot be used; the message says where and why."""


class DiffParseError(DiffProblem):
    pass


class DiffRefused(DiffProblem):
    """A diff codeloop will not apply, whatever its hunks: the message names the path and the rule."""

    def __init__(self, path: str, rule: str):
        self.path = path
        self.rule = rule
        super().__init__(f"{path}: refused: {rule}")


class DiffDoesNotApply(DiffProblem):
    def __init__(self, path: str, hunk_number: int | None, reason: str, header: str = ""):
        self.path = path
        self.hunk_number = hunk_number
        if hunk_number is None:
            super().__init__(f"{path}: {reason}")
        else:
            super().__init__(f"{path}: hunk {hunk_number} ({header}) does not apply: {reason}")


@dataclass
class Hunk:
    header: str
    old_start: int
    new_start: int
    lines: list[tuple[str, str]] = field(default_factory=list)  # (" " | "-" | "+", text)
    old_ends_without_newline: bool = False
    new_ends_without_newline: bool = False

    @property
    def old_lines(self) -> list[str]:
        return [text for op, text in self.lines if op != "+"]

    @property
    def new_lines(self) -> list[str]:
        return [text for op, text in self.lines if op != "-"]


REGULAR_FILE = "100644"
EXECUTABLE_FILE = "100755"
FILE_MODES = (REGULAR_FILE, EXECUTABLE_FILE)
_MODE_NAMES = {"120000": "symlinks are refused", "160000": "submodules are refused"}


@dataclass
class FilePatch:
    old_path: str | None  # None: the file is created
    new_path: str | None  # None: the file is deleted
    hunks: list[Hunk] = field(default_factory=list)
    new_mode: str | None = None  # set by "new file mode" / "new mode" lines
    binary: bool = False  # "Binary files … differ" or "GIT binary patch": its content is not in the diff

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or "?"


# -- extract ----------------------------------------------------------------------------------------


def extract_diff(answer: str) -> str | None:
    """The unified diff in a model's answer: its fenced diff blocks joined, or the bare diff."""
    blocks: list[str] = []
    current: list[str] | None = None
    for line in answer.splitlines():
        if current is None:
            if _FENCE_OPEN.match(line):
                current = []
        elif line.rstrip() == "```":
            block = "\n".join(current)
            if _DIFF_START.search(block):
                blocks.append(block)
            current = None
        else:
            current.append(line)
    if blocks:
        return "\n".join(blocks) + "\n"
    start = _DIFF_START.search(answer)
    if start is None:
        return None
    return answer[start.start() :]


# -- parse ------------------------------------------------------------------------------------------


def _path(raw: str, prefix: str) -> str | None:
    path = raw.split("\t", 1)[0].strip()
    if path == "/dev/null":
        return None
    if path.startswith('"') and path.endswith('"'):
        path = path[1:-1]
    return path.removeprefix(prefix)


def _starts_file_header(lines: list[str], index: int) -> bool:
    return lines[index].startswith("diff --git ") or (
        lines[index].startswith("--- ") and index + 1 < len(lines) and lines[index + 1].startswith("+++ ")
    )


def parse_unified_diff(text: str) -> list[FilePatch]:
    lines = text.splitlines()
    patches: list[FilePatch] = []
    current: FilePatch | None = None
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("diff --git "):
            parts = line[len("diff --git ") :].split(" ")
            current = FilePatch(_path(parts[0], "a/"), _path(parts[-1], "b/"))
            patches.append(current)
        elif line.startswith("new file mode") and current is not None and not current.hunks:
            current.old_path = None
            current.new_mode = line[len("new file mode") :].strip()
        elif line.startswith("new mode ") and current is not None and not current.hunks:
            current.new_mode = line[len("new mode ") :].strip()
        elif (line.startswith("Binary files ") or line == "GIT binary patch") and current is not None:
            current.binary = True
        elif line.startswith("deleted file mode") and current is not None and not current.hunks:
            current.new_path = None
        elif line.startswith("rename from ") and current is not None:
            current.old_path = line[len("rename from ") :].strip()
        elif line.startswith("rename to ") and current is not None:
            current.new_path = line[len("rename to ") :].strip()
        elif _starts_file_header(lines, index):
            old_path = _path(line[4:], "a/")
            new_path = _path(lines[index + 1][4:], "b/")
            same_file = current is not None and (current.old_path, current.new_path) == (old_path, new_path)
            if current is None or current.hunks or not same_file:
                # A diff without "diff --git" lines, or one whose header disagrees: --- / +++ rule.
                if current is not None and not current.hunks and patches and patches[-1] is current:
                    patches.pop()
                current = FilePatch(old_path, new_path)
                patches.append(current)
            index += 1
        elif line.startswith("@@"):
            if current is None:
                raise DiffParseError(f"line {index + 1}: a hunk ({line}) before any '--- / +++' file header")
            hunk, index = _parse_hunk(lines, index)
            current.hunks.append(hunk)
            continue
        index += 1
    if not patches:
        raise DiffParseError("no file header ('--- a/path' / '+++ b/path') found in the diff")
    return patches


def _parse_hunk(lines: list[str], index: int) -> tuple[Hunk, int]:
    header = lines[index]
    match = _HUNK_HEADER.match(header)
    if match is None:
        raise DiffParseError(f"line {index + 1}: malformed hunk header {header!r}")
    old_count = int(match.group(2) or 1)
    new_count = int(match.group(4) or 1)
    hunk = Hunk(header=match.group(0), old_start=int(match.group(1)), new_start=int(match.group(3)))
    old_seen = new_seen = 0
    index += 1
    while index < len(lines):
        line = lines[index]
        counts_met = old_seen >= old_count and new_seen >= new_count
        if line.startswith("@@") or _starts_file_header(lines, index):
            break
        if line.startswith(_NO_NEWLINE):
            if hunk.lines:
                last_op = hunk.lines[-1][0]
                hunk.old_ends_without_newline |= last_op in " -"
                hunk.new_ends_without_newline |= last_op in " +"
            index += 1
            continue
        if line == "":
            if counts_met:
                break
            op, text = " ", ""  # a blank context line whose leading space was trimmed
        elif line[0] in " -+":
            op, text = line[0], line[1:]
        else:
            break
        hunk.lines.append((op, text))
        old_seen += op != "+"
        new_seen += op != "-"
        index += 1
    return hunk, index


# -- apply ------------------------------------------------------------------------------------------


@dataclass
class _Text:
    lines: list[str]
    newline: str
    ends_with_newline: bool

    @classmethod
    def of(cls, content: str) -> _Text:
        newline = "\r\n" if "\r\n" in content else "\n"
        lines = content.split(newline)
        ends_with_newline = content.endswith(newline)
        if ends_with_newline or content == "":
            lines.pop()
        return cls(lines, newline, ends_with_newline or content == "")

    def render(self) -> str:
        if not self.lines:
            return ""
        return self.newline.join(self.lines) + (self.newline if self.ends_with_newline else "")


def _find_block(lines: list[str], block: list[str], expected: int, earliest: int) -> int | None:
    """Where ``block`` occurs, nearest to ``expected`` and not before ``earliest``.

    Exact matches first; then ignoring trailing whitespace (models drop it).
    """
    last_start = len(lines) - len(block)
    if last_start < earliest:
        return None
    expected = min(max(expected, earliest), last_start)
    candidates = sorted(range(earliest, last_start + 1), key=lambda start: (abs(start - expected), start))
    for same in (lambda a, b: a == b, lambda a, b: a.rstrip() == b.rstrip()):
        for start in candidates:
            if all(same(lines[start + i], want) for i, want in enumerate(block)):
                return start
    return None


def _mismatch(lines: list[str], block: list[str], at: int) -> str:
    for offset, want in enumerate(block):
        line_number = at + offset
        if line_number >= len(lines):
            return f"expected line {line_number + 1} to be {want!r}, but the file has only {len(lines)} lines"
        if lines[line_number].rstrip() != want.rstrip():
            return f"expected line {line_number + 1} to be {want!r}, found {lines[line_number]!r}"
    return "its context was not found after the previous hunk"


def _replacement(hunk: Hunk, matched: list[str]) -> list[str]:
    """The hunk's new lines, with context lines kept as the file has them (not as the model wrote)."""
    replacement: list[str] = []
    position = 0
    for op, text in hunk.lines:
        if op == "+":
            replacement.append(text)
            continue
        if op == " ":
            replacement.append(matched[position])
        position += 1
    return replacement


def _apply_hunks(path: str, content: str, hunks: list[Hunk]) -> str:
    text = _Text.of(content)
    drift = 0  # where hunks really start minus where their headers say
    earliest = 0
    for number, hunk in enumerate(hunks, start=1):
        old, new = hunk.old_lines, hunk.new_lines
        # A hunk's old start names its first line; with no old lines, the line it follows.
        anchor = max(hunk.old_start - 1, 0) if old else hunk.old_start
        expected = anchor + drift
        if old:
            start = _find_block(text.lines, old, expected, earliest)
            if start is None:
                reason = _mismatch(text.lines, old, min(max(expected, earliest), len(text.lines)))
                raise DiffDoesNotApply(path, number, reason, hunk.header)
        else:
            start = min(max(expected, earliest), len(text.lines))
        text.lines[start : start + len(old)] = _replacement(hunk, text.lines[start : start + len(old)])
        drift = start + len(new) - (anchor + len(old))
        earliest = start + len(new)
        if hunk.old_ends_without_newline or hunk.new_ends_without_newline:
            text.ends_with_newline = not hunk.new_ends_without_newline
    return text.render()


@dataclass(frozen=True)
class PatchRules:
    """What a diff may do beyond its hunks: the repository's protected globs, and caps."""

    protected_paths: tuple[str, ...] = ()  # added to protected_paths.ALWAYS_PROTECTED
    max_files: int = 50
    max_bytes: int = 1_000_000


@dataclass
class AppliedDiff:
    files: dict[str, str | None]  # path → new content, None: deleted
    modes: dict[str, str]  # path → the mode the diff sets (100644 or 100755); absent: keep the file's


def path_refusal(path: str, rules: PatchRules) -> str | None:
    """Why a diff may not touch ``path``, or None."""
    if reason := unsafe_path_reason(path):
        return reason
    if pattern := protected_by(path, rules.protected_paths):
        return f"it is a protected path ({pattern}); change it by hand in a reviewed pull request"
    return None


def check_patches(diff_text: str, patches: list[FilePatch], rules: PatchRules) -> None:
    """Refuse the whole diff (``DiffRefused``) for its first path, mode or size that breaks a rule."""
    size = len(diff_text.encode())
    if size > rules.max_bytes:
        raise DiffRefused("(the diff)", f"it has {size} bytes, more than the {rules.max_bytes} allowed")
    if len(patches) > rules.max_files:
        raise DiffRefused(
            "(the diff)", f"it changes {len(patches)} files, more than the {rules.max_files} allowed"
        )
    for patch in patches:
        for path in dict.fromkeys(p for p in (patch.old_path, patch.new_path) if p is not None):
            if reason := path_refusal(path, rules):
                raise DiffRefused(path, reason)
        if patch.new_mode is not None and patch.new_mode not in FILE_MODES:
            raise DiffRefused(
                patch.path, _MODE_NAMES.get(patch.new_mode, f"file mode {patch.new_mode} is refused")
            )
        if patch.binary:
            raise DiffRefused(
                patch.path, "binary patches are refused (a text diff cannot carry their content)"
            )


def apply_unified_diff(
    diff_text: str, read_file: Callable[[str], str | None], rules: PatchRules | None = None
) -> AppliedDiff:
    """The files a diff changes, and the modes it sets.

    ``read_file(path)`` returns a file's current content, or None when it does not exist; it is
    called only after every path passed ``check_patches``. Raises ``DiffProblem``:
    ``DiffRefused`` naming the path and rule, ``DiffDoesNotApply`` naming the file and hunk.
    """
    patches = parse_unified_diff(diff_text)
    check_patches(diff_text, patches, rules or PatchRules())
    changed: dict[str, str | None] = {}
    modes: dict[str, str] = {}

    def current(path: str) -> str | None:
        return changed[path] if path in changed else read_file(path)

    for patch in patches:
        if patch.new_path is not None and patch.new_mode is not None:
            modes[patch.new_path] = patch.new_mode
        if patch.old_path is None and patch.new_path is None:
            raise DiffParseError("a file patch has /dev/null on both sides")
        if patch.old_path is None:
            assert patch.new_path is not None
            if current(patch.new_path) is not None:
                raise DiffDoesNotApply(patch.new_path, None, "the diff creates it, but it already exists")
            changed[patch.new_path] = _apply_hunks(patch.new_path, "", patch.hunks)
            continue
        original = current(patch.old_path)
        if original is None:
            raise DiffDoesNotApply(patch.old_path, None, "the file does not exist")
        if patch.new_path is None:
            changed[patch.old_path] = None
            continue
        changed[patch.new_path] = _apply_hunks(patch.path, original, patch.hunks)
        if patch.new_path != patch.old_path:
            changed[patch.old_path] = None
    return AppliedDiff(changed, modes)


def push_refusal(path: str, existing_modes: dict[str, str]) -> str | None:
    """Why a push may not write ``path`` into a tree with ``existing_modes`` (path → mode), or None.

    Writing at or below a symlink or a submodule would follow it or replace it.
    """
    segments = path.split("/")
    for depth in range(1, len(segments) + 1):
        mode = existing_modes.get("/".join(segments[:depth]))
        if mode in _MODE_NAMES:
            return f"{'/'.join(segments[:depth])} is a {'symlink' if mode == '120000' else 'submodule'} in the repository"
    return None


def push_mode(path: str, set_by_diff: dict[str, str], existing_modes: dict[str, str]) -> str:
    """The mode a pushed file gets: the diff's, else the file's own (an executable stays one)."""
    mode = set_by_diff.get(path) or existing_modes.get(path)
    return mode if mode in FILE_MODES else REGULAR_FILE
