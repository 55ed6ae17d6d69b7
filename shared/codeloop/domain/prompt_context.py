"""What a prompt is built from, and how its context is fitted to a character budget.

A prompt has two kinds of input:

* the *task* (:class:`TaskSpec`): the maintainer's request, the issue or pull request it is
  about, acceptance criteria, scope. It is protected: never cut.
* the *context* (:class:`ContextPiece`): repository metadata, README, file tree, files,
  diff, manifests, commits, failures, annotations, earlier attempts, review comments. Every
  piece is third-party text, so it is cleaned (:mod:`codeloop.domain.untrusted`) and fenced.
  Its heading, outside the fence, is codeloop's own words ("File 2", "Failure 3"); the
  third-party words that say which file or failure it is (a path, a test name) are its
  *label*, shown as the first line inside the fence and never cut.

:func:`fit_context` keeps the fenced context within ``max_context_chars``: pieces are granted
room in priority order (highest first; ties by presentation order, then input order), so the
lowest priorities are the ones cut. A piece that does not fit whole is cut at a line boundary
(its head kept, or its tail for logs) and a visible marker says how much was left out; a
piece with no room left is replaced by its heading, its label and that marker, or dropped when
even that does not fit. The manifest records, per piece, its sizes and what happened to it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from typing import Literal

from pydantic import ConfigDict, Field

from codeloop.domain.fix_memory import TITLE as FIX_MEMORY_TITLE
from codeloop.domain.fix_memory import FixMemory
from codeloop.domain.frozen import Frozen
from codeloop.domain.models import TaskType
from codeloop.domain.untrusted import CleanText, clean, fence, fence_overhead, inline, neutralise_fences
from codeloop.domain.validation import Annotation

TASK_TYPES: tuple[str, ...] = tuple(task_type.value for task_type in TaskType)  # what templates may name

Keep = Literal["head", "tail"]
BLOCK_SEPARATOR = "\n\n"


# -- the kinds of context, their titles and default priorities --------------------------------


class PieceKind(Frozen):
    kind: str
    title: str
    priority: int = Field(description="Higher is kept longer when the budget is short.")
    keep: Keep = "head"


# In presentation order: how the pieces appear in the prompt (general to specific).
PIECE_KINDS: dict[str, PieceKind] = {
    kind.kind: kind
    for kind in (
        PieceKind(kind="repository", title="Repository", priority=85),
        PieceKind(kind="readme", title="README (excerpt)", priority=30),
        PieceKind(kind="file_tree", title="File tree", priority=20),
        PieceKind(kind="manifest", title="Dependency manifest", priority=40),
        PieceKind(kind="commits", title="Recent commits", priority=25),
        PieceKind(kind="file", title="File", priority=80),
        PieceKind(kind="diff", title="The pull request's diff", priority=70),
        PieceKind(kind="attempts", title="Earlier attempts", priority=60, keep="tail"),
        PieceKind(kind="fix_memory", title=FIX_MEMORY_TITLE, priority=50),
        PieceKind(kind="annotations", title="Annotations from the checks", priority=90),
        PieceKind(kind="failure", title="Failure", priority=95, keep="tail"),
        PieceKind(kind="review_comments", title="Review comments to address", priority=100),
    )
}
_POSITION = {kind: index for index, kind in enumerate(PIECE_KINDS)}


class ContextPiece(Frozen):
    """One piece of third-party context. ``name`` is unique in a prompt (``file:src/a.py``)."""

    name: str
    kind: str
    title: str = Field(description="The heading, outside the fence: codeloop's own words only.")
    content: str
    priority: int
    keep: Keep = "head"
    label: str | None = Field(
        default=None, description="Third-party words naming the piece, shown inside its fence."
    )

    @classmethod
    def of(
        cls,
        kind: str,
        content: str,
        name: str | None = None,
        title: str | None = None,
        label: str | None = None,
    ) -> ContextPiece:
        """A piece with its kind's defaults (title, priority, which end to keep)."""
        spec = PIECE_KINDS[kind]
        return cls(
            name=name or kind,
            kind=kind,
            title=title or spec.title,
            content=content,
            priority=spec.priority,
            keep=spec.keep,
            label=label,
        )


# -- the inputs ---------------------------------------------------------------------------------


class IssueRef(Frozen):
    number: int
    title: str
    body: str | None = None
    url: str
    author: str | None = None
    # How the issue is named where it lives, when not GitHub's ``#number``: a Linear identifier.
    reference: str | None = None


class PullRequestRef(Frozen):
    number: int
    title: str
    body: str | None = None
    url: str
    head_branch: str
    base_branch: str
    head_sha: str | None = None
    author: str | None = None


def spec_complexity(db_complexity: int) -> int:
    """The database's 1-10 on TaskSpec's 1-5 scale."""
    return min(5, max(1, math.ceil(db_complexity / 2)))


class TaskSpec(Frozen):
    """The work asked for. Everything here is protected: it is never cut from a prompt."""

    model_config = ConfigDict(use_enum_values=True)  # ``type`` is checked against TaskType, kept as its value

    type: TaskType
    complexity: int = Field(default=3, ge=1, le=5, description="1 trivial … 5 large, cross-cutting.")
    request: str = Field(description="The maintainer's own words (a user with write permission).")
    requested_by: str | None = None
    acceptance_criteria: list[str] = Field(default_factory=list)
    issue: IssueRef | None = None
    pull_request: PullRequestRef | None = None
    paths_in_scope: list[str] = Field(default_factory=list, description="Files or folders to work in.")
    paths_out_of_scope: list[str] = Field(
        default_factory=list, description="Files or folders to leave alone."
    )
    attempt: int = Field(default=1, ge=1, description="1 for the first try, then one more per fix round.")


class RepositoryInfo(Frozen):
    full_name: str
    default_branch: str = "main"
    description: str | None = None
    html_url: str | None = None
    languages: dict[str, int] = Field(default_factory=dict, description="Bytes per language (GitHub API).")
    topics: list[str] = Field(default_factory=list)


class FileText(Frozen):
    path: str
    content: str


class Commit(Frozen):
    sha: str
    message: str
    author: str | None = None


class Failure(Frozen):
    """A failing command, test or check, with its output (the tail matters most)."""

    source: str = Field(description="What failed, plain text: 'command pytest -q', 'check run lint'.")
    exit_code: int | None = None
    output: str = ""


class EarlierAttempt(Frozen):
    number: int
    outcome: str
    summary: str = ""
    pull_request_url: str | None = None


class ReviewComment(Frozen):
    """One comment of an open review thread; ``thread`` numbers the thread so the agent can answer each."""

    thread: int | None = None
    author: str | None = None
    body: str
    path: str | None = None
    line: int | None = None
    diff_hunk: str | None = None
    url: str | None = None


class PromptInputs(Frozen):
    """Everything a prompt is built from; the lead's worker fetches it, this module only formats it."""

    task: TaskSpec
    repository: RepositoryInfo
    readme: str | None = None
    file_tree: list[str] = Field(default_factory=list)
    files: list[FileText] = Field(
        default_factory=list, description="Named or changed files, most relevant first."
    )
    diff: str | None = None
    manifests: list[FileText] = Field(default_factory=list)
    commits: list[Commit] = Field(default_factory=list)
    failures: list[Failure] = Field(default_factory=list)
    annotations: list[Annotation] = Field(default_factory=list)
    attempts: list[EarlierAttempt] = Field(default_factory=list)
    review_comments: list[ReviewComment] = Field(default_factory=list)
    fix_memories: list[FixMemory] = Field(
        default_factory=list, description="What fixed similar failures in this repository before."
    )
    extra: list[ContextPiece] = Field(default_factory=list, description="Further pieces, as they are.")


def context_pieces(inputs: PromptInputs) -> list[ContextPiece]:
    """The inputs as context pieces, formatted, with their default priorities."""
    pieces = [ContextPiece.of("repository", _repository_text(inputs.repository))]
    if inputs.readme:
        pieces.append(ContextPiece.of("readme", inputs.readme))
    if inputs.file_tree:
        pieces.append(ContextPiece.of("file_tree", summarise_tree(inputs.file_tree)))
    pieces += [
        _numbered("manifest", n, m.content, name=f"manifest:{m.path}", label=f"Path: {m.path}")
        for n, m in enumerate(inputs.manifests, start=1)
    ]
    if inputs.commits:
        pieces.append(ContextPiece.of("commits", "\n".join(_commit_line(c) for c in inputs.commits)))
    pieces += [
        _numbered("file", n, f.content, name=f"file:{f.path}", label=f"Path: {f.path}")
        for n, f in enumerate(inputs.files, start=1)
    ]
    if inputs.diff:
        pieces.append(ContextPiece.of("diff", inputs.diff))
    if inputs.attempts:
        pieces.append(ContextPiece.of("attempts", "\n\n".join(_attempt_text(a) for a in inputs.attempts)))
    pieces += [
        ContextPiece.of(
            "fix_memory",
            m.text(),
            name=f"fix_memory:{m.id}",
            title=f"{FIX_MEMORY_TITLE} ({n} of {len(inputs.fix_memories)})",
        )
        for n, m in enumerate(inputs.fix_memories, start=1)
    ]
    if inputs.annotations:
        pieces.append(
            ContextPiece.of("annotations", "\n".join(_annotation_line(a) for a in inputs.annotations))
        )
    pieces += [
        _numbered("failure", n, _failure_text(f), name=f"failure:{n}", label=f"What failed: {f.source}")
        for n, f in enumerate(inputs.failures, start=1)
    ]
    if inputs.review_comments:
        pieces.append(
            ContextPiece.of(
                "review_comments", "\n\n".join(_review_comment_text(c) for c in inputs.review_comments)
            )
        )
    return pieces + list(inputs.extra)


def _numbered(kind: str, number: int, content: str, name: str, label: str) -> ContextPiece:
    """One of several pieces of a kind, headed by its kind's title and number ("File 2"); the
    third-party ``label`` (a path, a test name) goes inside the fence, never into the heading."""
    return ContextPiece.of(kind, content, name=name, title=f"{PIECE_KINDS[kind].title} {number}", label=label)


def summarise_tree(paths: Iterable[str], top_dirs: int = 30) -> str:
    """A file count per top-level folder and per extension, then every path, sorted."""
    ordered = sorted(set(paths))
    folders = Counter(p.split("/", 1)[0] + "/" if "/" in p else "(root)" for p in ordered)
    extensions = Counter(p.rsplit(".", 1)[1] if "." in p.rsplit("/", 1)[-1] else "(none)" for p in ordered)
    lines = [f"{len(ordered)} files."]
    lines.append("By top-level folder: " + ", ".join(f"{d} {n}" for d, n in folders.most_common(top_dirs)))
    lines.append("By extension: " + ", ".join(f".{e} {n}" for e, n in extensions.most_common(top_dirs)))
    lines.append("")
    lines += ordered
    return "\n".join(lines)


def _repository_text(repo: RepositoryInfo) -> str:
    lines = [f"Repository: {repo.full_name}", f"Default branch: {repo.default_branch}"]
    if repo.description:
        lines.append(f"Description: {repo.description}")
    if repo.languages:
        total = sum(repo.languages.values()) or 1
        shares = sorted(repo.languages.items(), key=lambda item: (-item[1], item[0]))
        lines.append("Languages: " + ", ".join(f"{name} {100 * size / total:.0f}%" for name, size in shares))
    if repo.topics:
        lines.append("Topics: " + ", ".join(repo.topics))
    return "\n".join(lines)


def _commit_line(commit: Commit) -> str:
    subject = commit.message.strip().splitlines()[0] if commit.message.strip() else ""
    author = f" ({commit.author})" if commit.author else ""
    return f"{commit.sha[:10]} {subject}{author}"


def _failure_text(failure: Failure) -> str:
    exit_line = f"exit code {failure.exit_code}\n" if failure.exit_code is not None else ""
    return f"{exit_line}{failure.output.rstrip()}"


def _annotation_line(annotation: Annotation) -> str:
    lines = f"{annotation.start_line}"
    if annotation.end_line != annotation.start_line:
        lines += f"-{annotation.end_line}"
    title = f" {annotation.title}:" if annotation.title else ""
    return f"{annotation.path}:{lines} [{annotation.annotation_level}]{title} {annotation.message}"


def _attempt_text(attempt: EarlierAttempt) -> str:
    pr = f" ({attempt.pull_request_url})" if attempt.pull_request_url else ""
    return f"Attempt {attempt.number}: {attempt.outcome}{pr}\n{attempt.summary}".rstrip()


def _review_comment_text(comment: ReviewComment) -> str:
    where = ""
    if comment.path:
        where = f" on {comment.path}" + (f" line {comment.line}" if comment.line else "")
    thread = f"Thread {comment.thread}: " if comment.thread is not None else ""
    head = f"{thread}{comment.author or 'A reviewer'}{where}:"
    hunk = f"\n{comment.diff_hunk}" if comment.diff_hunk else ""
    return f"{head}{hunk}\n{comment.body.strip()}"


# -- fitting ------------------------------------------------------------------------------------


class PieceReport(Frozen):
    """What happened to one piece. Sizes are characters."""

    name: str
    kind: str
    title: str
    priority: int
    status: Literal["full", "cut", "omitted"]
    original_chars: int = Field(description="The piece as given.")
    clean_chars: int | None = Field(
        description="After stripping hidden text and redacting secrets; None when the piece had no "
        "room at all and was dropped unread (its cut_chars then count the original)."
    )
    kept_chars: int = Field(description="Of the clean text, how much went in.")
    cut_chars: int
    rendered_chars: int = Field(description="What the piece takes in the prompt (heading, fence, marker).")
    stripped_chars: int = 0
    redactions: dict[str, int] = Field(default_factory=dict)


class ContextManifest(Frozen):
    budget: int
    used: int
    pieces: list[PieceReport]

    @property
    def cut(self) -> list[PieceReport]:
        return [p for p in self.pieces if p.status != "full"]


class FittedContext(Frozen):
    text: str = Field(description="The context section: fenced blocks, in presentation order.")
    manifest: ContextManifest

    @property
    def included(self) -> list[PieceReport]:
        """The pieces whose content is in the text, whole or in part."""
        return [p for p in self.manifest.pieces if p.kept_chars > 0]


def cut_marker(omitted_chars: int, title: str) -> str:
    return f"… [cut: {omitted_chars:,} chars of {title} omitted to fit the context budget]"


class _Prepared:
    """A piece on its way in: cleaned only once it has room (cleaning costs time in proportion
    to the text, and most of a large context is dropped unread)."""

    __slots__ = ("body", "clean", "heading", "index", "label_lines", "piece", "source")

    def __init__(self, index: int, piece: ContextPiece):
        self.index = index
        self.piece = piece
        self.clean: CleanText | None = None
        self.body = ""
        self.heading = f"### {piece.title}\n"
        self.source = inline(piece.title)
        self.label_lines = _label_lines(piece.label)

    def read(self) -> None:
        self.clean = clean(self.piece.content)
        self.body = neutralise_fences(self.clean.text.strip("\n"))

    def smallest_block(self) -> int:
        """The least room in which anything of the piece shows: its heading, label and a cut marker."""
        return len(self.marker_only(len(self.piece.content)))

    def fenced(self, body: str) -> str:
        """``body`` fenced, after the label (which is never cut)."""
        return fence(self.source, self.label_lines + body)

    def block(self, body: str) -> str:
        return self.heading + self.fenced(body)

    def marker_only(self, omitted_chars: int) -> str:
        """The heading, the label (fenced, so the reader still learns which file or failure was
        cut) and a cut marker, for a piece none of whose body fits."""
        marker = cut_marker(omitted_chars, self.piece.title)
        if not self.label_lines:
            return self.heading + marker
        return f"{self.heading}{fence(self.source, self.label_lines.rstrip())}\n{marker}"

    def full_size(self) -> int:
        return len(self.heading) + fence_overhead(self.source) + len(self.label_lines) + len(self.body)


def _label_lines(label: str | None) -> str:
    """How a piece's third-party label opens its fenced block: cleaned to one line, any forged
    fence tag made inert, then a blank line; nothing when the piece has no label."""
    return f"{neutralise_fences(inline(label))}\n\n" if label else ""


def fit_context(pieces: Iterable[ContextPiece], max_context_chars: int) -> FittedContext:
    """The pieces fenced and fitted so that the context text is at most ``max_context_chars``."""
    prepared = [_Prepared(i, p) for i, p in enumerate(pieces) if p.content.strip()]
    by_priority = sorted(
        prepared, key=lambda p: (-p.piece.priority, _POSITION.get(p.piece.kind, 99), p.index)
    )
    # Each block costs its length plus one separator; n blocks have n - 1 separators.
    remaining = max_context_chars + len(BLOCK_SEPARATOR)
    blocks: dict[int, str] = {}
    reports: dict[int, PieceReport] = {}
    for item in by_priority:
        room = remaining - len(BLOCK_SEPARATOR)
        if room >= item.smallest_block():
            item.read()
            if not item.body.strip():
                continue  # nothing but hidden text
        text, kept = _fit_one(item, room) if item.clean else ("", 0)
        if text:
            blocks[item.index] = text
            remaining -= len(text) + len(BLOCK_SEPARATOR)
        reports[item.index] = _report(item, kept, len(text))
    order = sorted(prepared, key=lambda p: (_POSITION.get(p.piece.kind, 99), p.index))
    text = BLOCK_SEPARATOR.join(blocks[p.index] for p in order if p.index in blocks)
    manifest = ContextManifest(
        budget=max_context_chars,
        used=len(text),
        pieces=[reports[p.index] for p in order if p.index in reports],
    )
    return FittedContext(text=text, manifest=manifest)


def _fit_one(item: _Prepared, room: int) -> tuple[str, int]:
    """The block for ``item`` in at most ``room`` characters, and how many body chars it keeps."""
    if item.full_size() <= room:
        return item.block(item.body), len(item.body)
    title = item.piece.title
    longest_marker = len(cut_marker(len(item.body), title)) + 1  # + its newline
    body_room = (
        room - len(item.heading) - fence_overhead(item.source) - len(item.label_lines) - longest_marker
    )
    kept = _keep_lines(item.body, body_room, item.piece.keep) if body_room > 0 else ""
    if kept:
        marker = cut_marker(len(item.body) - len(kept), title)
        if item.piece.keep == "head":
            return f"{item.block(kept)}\n{marker}", len(kept)
        return f"{item.heading}{marker}\n{item.fenced(kept)}", len(kept)
    marker_only = item.marker_only(len(item.body))
    return (marker_only, 0) if len(marker_only) <= room else ("", 0)


def _keep_lines(body: str, room: int, keep: Keep) -> str:
    """The longest run of whole lines from the head (or tail) of ``body`` in ``room`` chars."""
    if keep == "head":
        end = body.rfind("\n", 0, room + 1)
        return body[:end] if end > 0 else ""
    start = body.find("\n", len(body) - room - 1)
    return body[start + 1 :] if start != -1 else ""


def _report(item: _Prepared, kept: int, rendered: int) -> PieceReport:
    whole = len(item.body) if item.clean else len(item.piece.content)
    status = "full" if kept == whole else ("cut" if kept else "omitted")
    return PieceReport(
        name=item.piece.name,
        kind=item.piece.kind,
        title=item.piece.title,
        priority=item.piece.priority,
        status=status,
        original_chars=len(item.piece.content),
        clean_chars=len(item.body) if item.clean else None,
        kept_chars=kept,
        cut_chars=whole - kept,
        rendered_chars=rendered,
        stripped_chars=item.clean.stripped_chars if item.clean else 0,
        redactions=item.clean.redactions if item.clean else {},
    )
