"""The dashboard's pure rules: who a session is and what it reaches, the tasks list's filter and
cursor, cookie signing, and the SVG charts drawn on the server.

A user's session reaches the repositories GitHub said they can access when they signed in, less
those GitHub no longer gives them a role on when the App asks again (``recheck_due``,
``confirmed``); an operator's (a one-time link from ``codeloop dashboard login``) reaches
everything.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from codeloop.domain.commands import permission_allows
from codeloop.domain.lifecycle import TaskStatus
from codeloop.domain.markdown import duration
from codeloop.domain.models import Scope, StorableText, TaskType

SESSION_COOKIE = "codeloop_session"
STATE_COOKIE = "codeloop_oauth_state"
PAGE_SIZE = 50
OPERATOR = "operator"


class Session(BaseModel):
    model_config = ConfigDict(frozen=True)

    login: str
    operator: bool = False
    repository_ids: list[int] = []
    permissions: dict[str, str] = {}  # repository id → the user's role on it, as GitHub said
    csrf_token: str
    expires_at: datetime
    access_checked_at: datetime  # when GitHub last confirmed repository_ids (sign-in or a recheck)

    @property
    def scope(self) -> Scope | None:
        """What the session reaches (None: everything, for an operator)."""
        return None if self.operator else Scope(installation_ids=[], repository_ids=self.repository_ids)

    @property
    def actor(self) -> str:
        """Who acts, in the audit log."""
        return "dashboard:operator" if self.operator else self.login

    def reaches(self, repository_id: int | None) -> bool:
        return self.operator or (repository_id is not None and repository_id in self.repository_ids)


def recheck_due(session: Session, now: datetime, interval: timedelta) -> bool:
    """Whether a user's repositories were confirmed longer ago than ``interval`` (an operator's
    reach comes from the one-time link, not from GitHub)."""
    return not session.operator and now - session.access_checked_at >= interval


def confirmed(session: Session, roles: dict[int, str], now: datetime) -> Session:
    """The session narrowed to the repositories where GitHub now gives the user at least read, with
    those roles. ``roles``: repository id → the role GitHub just answered; a repository missing
    from it is one the App could not ask about (uninstalled, removed): it is dropped too."""
    kept = [rid for rid in session.repository_ids if permission_allows(roles.get(rid), "read")]
    return session.model_copy(
        update={
            "repository_ids": kept,
            "permissions": {str(rid): roles[rid] for rid in kept},
            "access_checked_at": now,
        }
    )


# -- tokens and signatures ----------------------------------------------------------------------


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign(value: str, key: str) -> str:
    """``value.signature``: a cookie the server can tell it made."""
    mac = hmac.new(key.encode(), value.encode(), hashlib.sha256).digest()
    return f"{value}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


def unsign(signed: str | None, key: str) -> str | None:
    """The value of a signed cookie, or None when it is missing or its signature is wrong."""
    if not signed or "." not in signed:
        return None
    value = signed.rsplit(".", 1)[0]
    return value if hmac.compare_digest(sign(value, key).encode(), signed.encode()) else None


def same_token(presented: str | None, expected: str) -> bool:
    return bool(presented) and hmac.compare_digest(presented.encode(), expected.encode())


def cookie(name: str, value: str, *, secure: bool, max_age: int) -> str:
    """A ``Set-Cookie`` value: HttpOnly, SameSite=Lax, Secure over HTTPS, for the dashboard only."""
    attributes = [f"{name}={value}", "Path=/app", "HttpOnly", "SameSite=Lax", f"Max-Age={max_age}"]
    if secure:
        attributes.append("Secure")
    return "; ".join(attributes)


def read_cookies(headers: dict[str, str], cookies: list[str] | None) -> dict[str, str]:
    """Cookies from API Gateway's ``cookies`` list (payload 2.0) or a ``Cookie`` header."""
    pairs = list(cookies or []) + [p for p in headers.get("cookie", "").split(";") if p.strip()]
    jar: dict[str, str] = {}
    for pair in pairs:
        name, _, value = pair.strip().partition("=")
        jar.setdefault(name, value)
    return jar


# -- the tasks list -----------------------------------------------------------------------------


class TaskFilter(BaseModel):
    """What the tasks list is narrowed to; None is no bound. Times without an offset are UTC."""

    model_config = ConfigDict(frozen=True)

    repository: StorableText | None = None
    status: TaskStatus | None = None
    type: TaskType | None = None
    actor: StorableText | None = None
    since: datetime | None = None
    until: datetime | None = None

    @field_validator("repository", "actor", "status", "type", "since", "until", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("since", "until")
    @classmethod
    def _utc(cls, moment: datetime | None) -> datetime | None:
        return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


class BadFilter(ValueError):
    pass


def parse_filter(query: dict[str, str]) -> TaskFilter:
    try:
        return TaskFilter.model_validate({k: v for k, v in query.items() if k in TaskFilter.model_fields})
    except ValidationError as exc:
        fields = ", ".join(str(error["loc"][0]) for error in exc.errors())
        raise BadFilter(f"not a valid filter: {fields}") from None


class TaskCursor(BaseModel):
    """The last row of a page: the next page starts right after it (newest first)."""

    model_config = ConfigDict(frozen=True)

    created_at: datetime
    id: UUID

    def encode(self) -> str:
        raw = json.dumps({"t": self.created_at.isoformat(), "id": str(self.id)}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str | None) -> TaskCursor | None:
        """The cursor, or None for a missing or mangled one (the first page)."""
        if not text:
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            return cls(created_at=data["t"], id=data["id"])
        except (ValueError, TypeError, KeyError):
            return None


# -- durations ----------------------------------------------------------------------------------


def duration_text(seconds: float | None) -> str:
    """As the PR comment says durations, and ``850 ms`` below a second; an en dash when unknown."""
    if seconds is None:
        return "–"
    return f"{round(seconds * 1000)} ms" if seconds < 1 else duration(seconds)


# -- charts -------------------------------------------------------------------------------------


class Point(BaseModel):
    model_config = ConfigDict(frozen=True)

    label: str  # the x value as shown (a day, a count)
    value: float


class Series(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    points: list[Point]


# Each series has a colour AND a dash pattern and a marker shape, so colour is never the only signal.
STYLES = [
    ("#1f6feb", "", "circle"),
    ("#d1242f", "6 3", "square"),
    ("#1a7f37", "2 3", "diamond"),
    ("#9a6700", "8 3 2 3", "circle"),
    ("#8250df", "4 4", "square"),
]
WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP, PAD_RIGHT = 640, 240, 72, 36, 12, 12


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _frame(title: str, labels: list[str], top: float, unit: str) -> tuple[list[str], float, float]:
    """The chart's opening, axes and gridlines; returns the parts, the x step and the y scale."""
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    step = plot_w / max(len(labels), 1)
    scale = plot_h / top if top else 0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{_escape(title)}" class="chart"><title>{_escape(title)}</title>'
    ]
    for fraction in (0, 0.5, 1):
        y = PAD_TOP + plot_h - fraction * plot_h
        parts.append(
            f'<line x1="{PAD_LEFT}" y1="{y:.1f}" x2="{WIDTH - PAD_RIGHT}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_number(top * fraction)}{unit}</text>'
        )
    every = max(1, len(labels) // 8)
    for index, label in enumerate(labels):
        if index % every == 0:
            x = PAD_LEFT + step * (index + 0.5)
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - PAD_BOTTOM + 16}" text-anchor="middle">{_escape(label)}</text>'
            )
    return parts, step, scale


def _number(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.2f}".rstrip("0").rstrip(".")


def _marker(shape: str, x: float, y: float, colour: str) -> str:
    if shape == "square":
        return f'<rect x="{x - 3.5:.1f}" y="{y - 3.5:.1f}" width="7" height="7" fill="{colour}"/>'
    if shape == "diamond":
        return f'<path d="M{x:.1f} {y - 5:.1f}l5 5-5 5-5-5z" fill="{colour}"/>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"/>'


def line_chart(title: str, series: list[Series], *, top: float | None = None, unit: str = "") -> str:
    """Lines over shared x labels; every series styled apart by colour, dash and marker."""
    labels = sorted({point.label for s in series for point in s.points})
    top = top or max((point.value for s in series for point in s.points), default=0) or 1
    parts, step, scale = _frame(title, labels, top, unit)
    base = HEIGHT - PAD_BOTTOM
    for index, one in enumerate(series):
        colour, dash, shape = STYLES[index % len(STYLES)]
        at = {point.label: point.value for point in one.points}
        coords = [
            (PAD_LEFT + step * (labels.index(label) + 0.5), base - at[label] * scale)
            for label in labels
            if label in at
        ]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        dashing = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<g><title>{_escape(one.name)}</title>'
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dashing}/>'
            + "".join(_marker(shape, x, y, colour) for x, y in coords)
            + "</g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(title: str, points: list[Point], *, unit: str = "") -> str:
    """Bars, each with its value written above it."""
    top = max((point.value for point in points), default=0) or 1
    parts, step, scale = _frame(title, [point.label for point in points], top, unit)
    base = HEIGHT - PAD_BOTTOM
    for index, point in enumerate(points):
        height = point.value * scale
        x = PAD_LEFT + step * index + step * 0.15
        parts.append(
            f'<rect x="{x:.1f}" y="{base - height:.1f}" width="{step * 0.7:.1f}" height="{height:.1f}" '
            f'class="bar"><title>{_escape(point.label)}: {_number(point.value)}{unit}</title></rect>'
            f'<text x="{x + step * 0.35:.1f}" y="{base - height - 4:.1f}" text-anchor="middle">'
            f"{_number(point.value)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def legend(series: list[Series]) -> list[dict[str, str]]:
    """Each series' name with its colour, dash and marker, for the legend under a line chart."""
    return [
        {"name": one.name, "colour": STYLES[i % len(STYLES)][0], "dash": STYLES[i % len(STYLES)][1] or "none",
         "marker": STYLES[i % len(STYLES)][2]}
        for i, one in enumerate(series)
    ]  # fmt: skip
