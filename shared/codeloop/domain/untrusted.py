"""Text that third parties wrote, made safe to put in a prompt.

Issue bodies, comments, diffs, file contents and CI logs can carry instructions aimed at the
agent, hidden text a human reviewer never sees, and leaked credentials. Before any of it
reaches a prompt it is:

1. *sanitised*: HTML comments and invisible characters (zero-width, bidi controls, Unicode
   tag characters, soft hyphens) are stripped, so the agent reads what a human reads;
2. *redacted*: strings that look like secrets become ``[redacted:<kind>]``;
3. *fenced*: wrapped in an ``<untrusted-data id="…">`` block whose id is a hash of the fenced
   text, so the content cannot produce the closing tag (it would have to contain its own
   hash), and any ``untrusted-data`` tag already inside the content is neutralised.

The prompt's preamble tells the agent that everything inside such a block is data, never
instructions.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field

FENCE_TAG = "untrusted-data"

# HTML comments, including one left open at the end of the text (GitHub hides those too).
_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)

# Characters that render as nothing (or reorder what is shown) yet reach a model verbatim.
_INVISIBLE = re.compile(
    "["
    "\u00ad"  # soft hyphen
    "\u034f"  # combining grapheme joiner
    "\u061c"  # Arabic letter mark (bidi)
    "\u115f\u1160\u3164\uffa0"  # Hangul fillers
    "\u180e"  # Mongolian vowel separator
    "\u200b-\u200f"  # zero-width space/non-joiner/joiner, LRM, RLM
    "\u202a-\u202e"  # bidi embeddings and overrides
    "\u2060-\u2064"  # word joiner, invisible operators
    "\u2066-\u2069"  # bidi isolates
    "\ufeff"  # zero-width no-break space (BOM)
    "\U000e0000-\U000e007f"  # Unicode tag characters
    "]"
)

# A forged fence tag inside the content: ``<untrusted-data`` or ``</untrusted-data``, any case.
_FORGED_FENCE = re.compile(r"<(/?)\s*(untrusted-data)", re.IGNORECASE)


class _Shape(NamedTuple):
    """A secret's shape. Each starts with a literal, so that ``re`` scans for it at C speed
    (an alternation, a leading ``\b`` or a lookbehind makes it try every position)."""

    kind: str
    pattern: re.Pattern[str]
    group: int = 0  # the part of the match to redact
    word_start: bool = False  # the match must not continue a word


_WORD_CHAR = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_AWS_ACCESS_KEY = re.compile(r"A(?:KIA|SIA|BIA|CCA|GPA|IDA|ROA|NPA|NVA|IPA)[0-9A-Z]{16}(?![0-9A-Za-z])")
_SHAPES = (
    _Shape(
        "private_key",
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?"
            r"(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
            re.DOTALL,
        ),
    ),
    _Shape(
        "jwt", re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), word_start=True
    ),
    _Shape("github_token", re.compile(r"gh[pousr]_[A-Za-z0-9]{30,}"), word_start=True),
    _Shape("github_token", re.compile(r"github_pat_[A-Za-z0-9_]{22,}"), word_start=True),
    _Shape("aws_access_key", _AWS_ACCESS_KEY, word_start=True),
    _Shape("slack_token", re.compile(r"xox[abposr]-[A-Za-z0-9-]{10,}"), word_start=True),
    _Shape("openai_key", re.compile(r"sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}"), word_start=True),
    _Shape("url_password", re.compile(r"://[^/\s:@]{1,64}:([^@\s/]{3,})@"), group=1),
)
# A bare 40-character AWS secret key is only recognisable next to its access key id (as other
# secret scanners do); labelled ones (``aws_secret_access_key = …``) are caught as assignments.
_AWS_SECRET_KEY = re.compile(
    r"(?<![A-Za-z0-9/+=])(?=[A-Za-z0-9/+]{0,39}[0-9])(?=[A-Za-z0-9/+]{0,39}[a-z])(?=[A-Za-z0-9/+]{0,39}[A-Z])"
    r"[A-Za-z0-9+][A-Za-z0-9/+]{38}[A-Za-z0-9+](?![A-Za-z0-9/+=])"
)
# Searched in the lowercased text: case-insensitive, at the speed of a literal search.
_BEARER = _Shape("bearer_token", re.compile(r"bearer ([a-z0-9\-._~+/]{8,}=*)"), group=1)
# ``name = "value"``, ``name: 'value'``, ``NAME=value`` where the name ends with a credential
# word. A bare value counts only if it holds a digit or a symbol, so code such as
# ``password: Optional[str]`` or ``token = request.token`` is left alone.
_VALUE = (
    r"[\"']?[ \t]*[:=][ \t]*"
    r"(?:\"([^\"\n]{4,})\"|'([^'\n]{4,})'"
    r"|((?=[^\s\"'`,;()\[\]{}<>$]*[^A-Za-z_.\s\"'`,;()\[\]{}<>$])[^\s\"'`,;()\[\]{}<>$]{6,})(?![(\[]))"
)
_CREDENTIAL_WORDS = {
    word: re.compile(rf"{tail}(?![A-Za-z0-9_]){_VALUE}", re.IGNORECASE)
    for word, tail in (("key", ""), ("secret", ""), ("token", ""), ("passw", "(?:or)?d"), ("pwd", ""))
}
_NAME_CHAR = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


class CleanText(BaseModel):
    """Sanitised and redacted text, with counts of what was taken out (for the manifest)."""

    model_config = ConfigDict(frozen=True)

    text: str
    stripped_chars: int = 0
    redactions: dict[str, int] = Field(default_factory=dict)


def strip_hidden(text: str) -> str:
    """``text`` without HTML comments and invisible characters."""
    if "<!--" in text:
        text = _HTML_COMMENT.sub("", text)
    return text if text.isascii() else _INVISIBLE.sub("", text)


def redact_secrets(text: str, counts: Counter[str] | None = None) -> str:
    """``text`` with secret-looking strings replaced by ``[redacted:<kind>]``.

    ``counts``, when given, is incremented per kind redacted.
    """
    counts = Counter() if counts is None else counts
    for shape in _SHAPES:
        text = _replace(text, _shape_spans(text, shape), counts)
    if counts["aws_access_key"]:
        text = _replace(
            text, [(m.start(), m.end(), "aws_secret_key") for m in _AWS_SECRET_KEY.finditer(text)], counts
        )
    text = _replace(text, _shape_spans(text, _BEARER, lowercase=True), counts)
    return _replace(text, _assignment_spans(text), counts)


Span = tuple[int, int, str]  # start, end, kind


def _lowercase(text: str) -> str:
    """``text`` lowercased, at the same length (``str.lower`` lengthens a few characters, such
    as 'İ'; those are then left as they are)."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(low if len(low := char.lower()) == 1 else char for char in text)


def _shape_spans(text: str, shape: _Shape, lowercase: bool = False) -> list[Span]:
    haystack = _lowercase(text) if lowercase else text
    spans = []
    for match in shape.pattern.finditer(haystack):
        if shape.word_start and match.start() and text[match.start() - 1] in _WORD_CHAR:
            continue
        spans.append((*match.span(shape.group), shape.kind))
    return spans


def _assignment_spans(text: str) -> list[Span]:
    haystack = _lowercase(text)
    spans = []
    for word, tail in _CREDENTIAL_WORDS.items():
        start = haystack.find(word)
        while start != -1:
            match = tail.match(text, start + len(word))
            if match and _starts_name(text, start):
                group = next(g for g in (1, 2, 3) if match.group(g) is not None)
                if not match.group(group).startswith("[redacted:"):
                    spans.append((*match.span(group), _assignment_kind(_name_before(text, start))))
            start = haystack.find(word, start + 1)
    return sorted(spans)


def _starts_name(text: str, start: int) -> bool:
    """The credential word begins a name part: ``api_key``, ``apiKey``, ``KEY``; not ``monkey``."""
    return start == 0 or not text[start - 1].isalpha() or text[start].isupper()


def _name_before(text: str, start: int) -> str:
    begin = start
    while begin > 0 and start - begin < 64 and text[begin - 1] in _NAME_CHAR:
        begin -= 1
    return text[begin : start + 8].lower()


def _assignment_kind(name: str) -> str:
    if ("aws" in name and "secret" in name) or "secretaccesskey" in name.replace("_", ""):
        return "aws_secret_key"
    return "password" if "passw" in name or "pwd" in name else "api_key"


def _replace(text: str, spans: list[Span], counts: Counter[str]) -> str:
    if not spans:
        return text
    parts, position = [], 0
    for start, end, kind in spans:
        if start < position:  # overlaps a span already replaced
            continue
        parts += [text[position:start], f"[redacted:{kind}]"]
        counts[kind] += 1
        position = end
    parts.append(text[position:])
    return "".join(parts)


def clean(text: str) -> CleanText:
    """Sanitise then redact (stripping first, so a zero-width space cannot hide a token)."""
    stripped = strip_hidden(text)
    counts: Counter[str] = Counter()
    redacted = redact_secrets(stripped, counts)
    return CleanText(text=redacted, stripped_chars=len(text) - len(stripped), redactions=dict(counts))


def neutralise_fences(text: str) -> str:
    """Make any ``<untrusted-data`` / ``</untrusted-data`` tag in ``text`` inert."""
    if "untrusted-data" not in text.lower():
        return text
    return _FORGED_FENCE.sub(lambda m: f"&lt;{m.group(1)}{m.group(2)}", text)


def fence_id(source: str, text: str) -> str:
    return hashlib.sha256(f"{source}\0{text}".encode()).hexdigest()[:16]


def fence(source: str, text: str) -> str:
    """``text`` (already cleaned) inside an unforgeable, labelled untrusted-data block.

    ``source`` says where the text came from (``issue #12 body``); it is codeloop's own
    wording, never third-party text.
    """
    body = neutralise_fences(text)
    tag = fence_id(source, body)
    label = source.replace('"', "'")
    return f'<{FENCE_TAG} id="{tag}" source="{label}">\n{body}\n</{FENCE_TAG} id="{tag}">'


def fence_overhead(source: str) -> int:
    """How many characters :func:`fence` adds around a text, for budgeting."""
    return len(fence(source, ""))


def inline(text: str, limit: int = 200) -> str:
    """A short third-party string (a title, a branch name) safe to show on one line in code quotes."""
    cleaned = clean(text).text
    one_line = " ".join(cleaned.replace("`", "'").split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"
