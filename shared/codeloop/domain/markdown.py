"""Markdown built from text that came from outside, safe to post on GitHub.

Titles, errors, test output and URLs go through one of these helpers before they reach a
comment or a check run: HTML comments and invisible characters stripped (no text can forge a
hidden marker), secrets redacted (:mod:`codeloop.domain.untrusted`), then either fenced in a code
block (mentions and HTML are inert there) or escaped on one line (``@`` followed by a zero-width
joiner, so nobody is pinged; HTML escaped). Long lists keep their first and latest entries, long
logs their head and tail, with a marker saying what was cut.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from urllib.parse import quote, urlsplit

from codeloop.domain.untrusted import clean

GITHUB_TEXT_LIMIT = 65_535  # GitHub's limit for a comment body and for a check run's summary and text

_MARGIN = 512  # extra characters cleaned beyond a cut, so a secret across the cut is still found
_ZWJ = "\u200d"
_MENTION = re.compile(r"@(?=\w)")
_REFERENCE = re.compile(r"#(?=\d)")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")


def scrub(text: str) -> str:
    """Outside text without HTML comments, invisible characters or secrets; no ``<!--`` survives."""
    text = clean(text).text
    return text.replace("<!--", "<!" + _ZWJ + "--")


def scrub_inline(text: str) -> str:
    return _MENTION.sub("@" + _ZWJ, scrub(text))


def inline(text: str, limit: int = 200) -> str:
    """Outside text on one Markdown line: cleaned, clipped, mentions and references inert, escaped."""
    one_line = " ".join(scrub(text[: limit + _MARGIN]).split())
    if len(one_line) > limit:
        one_line = one_line[: limit - 1] + "…"
    escaped = html.escape(one_line, quote=False)
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", escaped)
    escaped = _MENTION.sub("@" + _ZWJ, escaped)
    return _REFERENCE.sub("#" + _ZWJ, escaped)


def plain(text: str, limit: int) -> str:
    """Plain text (a check run title): one line, cleaned, clipped, no mentions."""
    one_line = " ".join(scrub_inline(text[: limit + _MARGIN]).split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def code_span(text: str, limit: int) -> str:
    """Outside text as an inline code span (nothing inside is Markdown, HTML or a mention)."""
    one_line = " ".join(scrub(text[: limit + _MARGIN]).split())
    if len(one_line) > limit:
        one_line = one_line[: limit - 1] + "…"
    ticks = "`" * (max((len(run) for run in re.findall(r"`+", one_line)), default=0) + 1)
    pad = " " if one_line.startswith("`") or one_line.endswith("`") else ""
    return f"{ticks}{pad}{one_line}{pad}{ticks}"


def html_code(text: str) -> str:
    """Outside text inside HTML (a ``<summary>``): escaped, no mentions."""
    one_line = " ".join(scrub_inline(text[: 200 + _MARGIN]).split())[:200]
    return f"<code>{html.escape(one_line)}</code>"


def fenced(text: str, limit: int) -> str:
    """Outside text in a code block: its head and tail within ``limit`` characters, the cut marked."""
    body = keep_ends(text, max(limit - 20, 100))
    ticks = "`" * max(3, max((len(run) for run in re.findall(r"`+", body)), default=0) + 1)
    return f"{ticks}text\n{body}\n{ticks}"


def keep_ends(text: str, limit: int) -> str:
    """Cleaned text within ``limit`` characters: all of it, or its head and tail around a marker."""
    if len(text) <= 2 * limit:
        cleaned = scrub(text)
        if len(cleaned) <= limit:
            return cleaned
        text = cleaned
    keep = max(limit - 60, 20)
    head_chars, tail_chars = keep * 2 // 5, keep - keep * 2 // 5
    head = scrub(text[: head_chars + _MARGIN])[:head_chars]
    tail = scrub(text[-(tail_chars + _MARGIN) :])[-tail_chars:]
    head = head[: head.rfind("\n")] if head.rfind("\n") > head_chars // 2 else head
    tail = tail[tail.find("\n") + 1 :] if -1 < tail.find("\n") < tail_chars // 2 else tail
    cut = max(len(text) - len(head) - len(tail), 0)
    return f"{head}\n✂️ … {cut:,} characters cut here …\n{tail}"


def details(summary_html: str, body: str) -> str:
    return f"<details><summary>{summary_html}</summary>\n\n{body}\n\n</details>"


def link(label: str, url: str) -> str:
    """A Markdown link to an http(s) address; nothing for anything else."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    safe = quote(parts.geturl(), safe=":/?#&=%+,;@!$'*~-._")
    return f"[{label}]({safe})"


def is_github_login(name: str | None) -> bool:
    """Whether ``name`` could be a GitHub login (letters, digits and hyphens, at most 39)."""
    return bool(name and _LOGIN.match(name))


def person(name: str | None, *, mention: bool = False) -> str:
    """A GitHub login as @login (a real mention only when asked for), anything else as code."""
    if name and is_github_login(name):
        return f"@{name}" if mention else f"@{_ZWJ}{name}"
    return code_span(name or "someone", 80)


def fit_text(text: str, budget: int) -> str:
    return text if len(text) <= budget else ""


def fit_lines(lines: Sequence[str], budget: int, noun: str) -> list[str]:
    """The lines within ``budget`` characters: the first and the latest ones, with a line saying
    how many in between are not shown."""
    if sum(len(line) + 1 for line in lines) <= budget:
        return list(lines)
    room = budget - 60
    tail: list[str] = []
    used = 0
    for line in reversed(lines):
        if used + len(line) + 1 > room * 2 // 3:
            break
        tail.append(line)
        used += len(line) + 1
    head: list[str] = []
    for line in lines[: len(lines) - len(tail)]:
        if used + len(line) + 1 > room:
            break
        head.append(line)
        used += len(line) + 1
    hidden = len(lines) - len(head) - len(tail)
    return [*head, f"- … {hidden:,} more {noun} not shown …", *reversed(tail)]


def fit_blocks(blocks: Sequence[str], budget: int, noun: str) -> list[str]:
    """As many whole blocks as fit in ``budget``, in order, and a line for the rest."""
    kept: list[str] = []
    used = 0
    for block in blocks:
        if used + len(block) + 2 > budget - 60:
            break
        kept.append(block)
        used += len(block) + 2
    hidden = len(blocks) - len(kept)
    return kept + ([f"… {hidden:,} more {noun} not shown."] if hidden else [])


def duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
