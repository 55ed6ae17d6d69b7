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
from collections.abc import Callable

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

_CREDENTIAL_NAME = (
    r"(?i:api[_-]?key|apikey|access[_-]?key|secret[_-]?key|client[_-]?secret|auth[_-]?token|"
    r"access[_-]?token|secret|token|password|passwd|pwd)"
)

# One alternation, scanned once: each named group is a kind of secret. Order matters where
# patterns overlap (a PEM block before anything inside it, a Bearer JWT as a bearer token).
_SECRET = re.compile(
    r"(?P<private_key>-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?s:.*?)"
    r"(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z))"
    r"|(?P<github_token>\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,}))"
    r"|(?P<aws_access_key>\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b)"
    r"|(?P<slack_token>\bxox[abposr]-[A-Za-z0-9-]{10,})"
    r"|(?P<openai_key>\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,})"
    r"|(?P<bearer_token>(?<=(?i:bearer) )[A-Za-z0-9\-._~+/]{8,}=*)"
    r"|(?P<jwt>\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})"
    r"|(?P<url_password>(?<=://)[^/\s:@]{1,64}:[^@\s/]{3,}(?=@))"
    # 40 characters of base64 with a slash or plus, a digit, both cases, standing alone.
    r"|(?P<aws_secret_key>(?<![A-Za-z0-9/+=])(?=[A-Za-z0-9/+]{0,39}[/+])(?=[A-Za-z0-9/+]{0,39}[0-9])"
    r"(?=[A-Za-z0-9/+]{0,39}[a-z])(?=[A-Za-z0-9/+]{0,39}[A-Z])"
    r"[A-Za-z0-9+][A-Za-z0-9/+]{38}[A-Za-z0-9+](?![A-Za-z0-9/+=]))"
    # name = "value", name: 'value', NAME=value (a bare value only if it has a digit or symbol,
    # so code such as ``password: Optional[str]`` or ``token = request.token`` is left alone).
    rf"|(?P<assignment>\b(?P<name>[A-Za-z0-9_.-]*{_CREDENTIAL_NAME})\b[\"']?[ \t]*[:=][ \t]*"
    r"(?:\"(?P<dq>[^\"\n]{4,})\"|'(?P<sq>[^'\n]{4,})'"
    r"|(?P<bare>(?=[^\s\"'`,;()\[\]{}<>$]*[^A-Za-z_.\s\"'`,;()\[\]{}<>$])[^\s\"'`,;()\[\]{}<>$]{6,})"
    r"(?![(\[])))"
)
_ASSIGNMENT_VALUE_GROUPS = ("dq", "sq", "bare")


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
    return _INVISIBLE.sub("", text)


def redact_secrets(text: str, counts: Counter[str] | None = None) -> str:
    """``text`` with secret-looking strings replaced by ``[redacted:<kind>]``.

    ``counts``, when given, is incremented per kind redacted.
    """
    return _SECRET.sub(_redactor(counts), text)


def _redactor(counts: Counter[str] | None) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        if match.group("assignment") is not None:
            return _redact_assignment(match, counts)
        kind = match.lastgroup or "secret"
        if counts is not None:
            counts[kind] += 1
        return f"[redacted:{kind}]"

    return replace


def _redact_assignment(match: re.Match[str], counts: Counter[str] | None) -> str:
    """Keep the name and the quotes, redact only the value."""
    group = next(g for g in _ASSIGNMENT_VALUE_GROUPS if match.group(g) is not None)
    kind = _assignment_kind(match.group("name"), match.group(group))
    if counts is not None:
        counts[kind] += 1
    whole, offset = match.group(0), match.start()
    start, end = match.span(group)
    return f"{whole[: start - offset]}[redacted:{kind}]{whole[end - offset :]}"


def _assignment_kind(name: str, value: str) -> str:
    """The value's own kind when it has a known shape, else what its name says it is."""
    shaped = _SECRET.fullmatch(value)
    if shaped and shaped.group("assignment") is None and shaped.lastgroup:
        return shaped.lastgroup
    lowered = name.lower()
    if "aws" in lowered and "secret" in lowered:
        return "aws_secret_key"
    return "password" if "pass" in lowered or "pwd" in lowered else "api_key"


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
