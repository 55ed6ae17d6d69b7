"""The dashboard under ``/app/``: server-rendered pages on the same HTTP front as the webhooks.

Pages are Jinja2 templates (``templates/``) with one stylesheet (``static/style.css``); there is
no JavaScript. Every page but sign-in needs a session (a signed, HttpOnly, SameSite=Lax cookie,
Secure over HTTPS); every POST needs the session's CSRF token. A task or delivery the session
does not reach is a 404, as if it did not exist.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import psycopg

from codeloop.domain.costs import CostTotals, cost_line, usd_text
from codeloop.domain.dashboard import (
    SESSION_COOKIE,
    STATE_COOKIE,
    BadFilter,
    Session,
    TaskCursor,
    cookie,
    duration_text,
    parse_filter,
    read_cookies,
    same_token,
    sign,
    unsign,
)
from codeloop.domain.models import UUID_TEXT
from codeloop.observability import logger
from codeloop.settings import SettingsError

HERE = Path(__file__).resolve().parent
STATIC = {"style.css": "text/css; charset=utf-8"}
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


class Request:
    """The parts of an API Gateway HTTP API (payload 2.0) event a page reads."""

    def __init__(self, event: dict[str, Any]):
        self.method = event.get("requestContext", {}).get("http", {}).get("method", "GET").upper()
        self.path = event.get("rawPath") or "/"
        self.headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
        self.query = dict(parse_qsl(event.get("rawQueryString") or ""))
        self.cookies = read_cookies(self.headers, event.get("cookies"))
        raw = event.get("body") or ""
        text = base64.b64decode(raw).decode(errors="replace") if event.get("isBase64Encoded") else raw
        self.form = dict(parse_qsl(text)) if self.method == "POST" else {}
        self.session: Session | None = None

    @property
    def secure(self) -> bool:
        return self.headers.get("x-forwarded-proto", "http").split(",")[0].strip() == "https"

    @property
    def origin(self) -> str:
        return f"{'https' if self.secure else 'http'}://{self.headers.get('host', '127.0.0.1')}"


# -- responses ----------------------------------------------------------------------------------


def _respond(status: int, body: str, content_type: str, cookies: list[str] | None = None,
             headers: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    return {
        "statusCode": status,
        "headers": {"content-type": content_type, **SECURITY_HEADERS, **(headers or {})},
        "cookies": cookies or [],
        "body": body,
    }


def redirect(location: str, cookies: list[str] | None = None, status: int = 303) -> dict[str, Any]:
    return _respond(status, "", "text/plain; charset=utf-8", cookies, {"location": location})


@functools.cache
def _environment() -> Any:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = lambda moment: moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "–"
    env.filters["duration"] = duration_text
    env.filters["money"] = money
    env.globals["urlencode"] = lambda params: urlencode({k: v for k, v in params.items() if v})
    return env


def money(cost: Any) -> str:
    """A cost as the task's JSON gives it (its ``cost``, or one of ``cost.attempts``), in the words
    of the PR comment; or an amount of US dollars (a stats figure)."""
    if isinstance(cost, dict):
        totals = cost.get("total", cost)
        return cost_line(CostTotals.model_validate({k: v for k, v in totals.items() if k != "attempt"}))
    if cost is None or isinstance(cost, bool):
        return "not recorded"
    return usd_text(Decimal(str(cost)))


def page(request: Request, template: str, http_status: int = 200, **context: Any) -> dict[str, Any]:
    body = _environment().get_template(template).render(session=request.session, request=request, **context)
    return _respond(http_status, body, "text/html; charset=utf-8")


def problem(request: Request, status: int, message: str) -> dict[str, Any]:
    return page(request, "problem.html.j2", status, code=status, message=message)


def with_notice(path: str, text: str) -> str:
    """``path`` with a notice for the page to show. The notice is signed: a link from elsewhere
    cannot make the dashboard say what it did not ("your session expired: sign in at ...")."""
    from codeloop.services.dashboard import access

    return f"{path}?{urlencode({'notice': sign(text, access.signing_key())})}"


def notice(request: Request) -> str | None:
    """The notice ``with_notice`` put on this page's URL, or None (a forged one included)."""
    from codeloop.services.dashboard import access

    return unsign(request.query.get("notice"), access.signing_key())


# -- routing ------------------------------------------------------------------------------------

Handler = Callable[..., dict[str, Any]]
ROUTES: list[tuple[str, re.Pattern[str], Handler, bool]] = []


def route(method: str, pattern: str, *, public: bool = False) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ROUTES.append((method, re.compile(f"^/app{pattern}$"), handler, public))
        return handler

    return register


def handle(event: dict[str, Any]) -> dict[str, Any]:
    request = Request(event)
    try:
        return _dispatch(request)
    except psycopg.OperationalError as error:
        logger.error("dashboard: database unavailable", extra={"error": type(error).__name__})
        return problem(request, 503, "codeloop's database is unavailable; try again shortly")
    except SettingsError as error:
        return problem(request, 503, f"codeloop is not configured: {error}")


def _dispatch(request: Request) -> dict[str, Any]:
    from codeloop.services.dashboard import access

    for method, pattern, handler, public in ROUTES:
        match = pattern.match(request.path)
        if not match or method != request.method:
            continue
        if not public:
            try:
                request.session = access.session_for(request.cookies.get(SESSION_COOKIE))
            except access.AccessUnconfirmed as unconfirmed:
                return problem(request, 503, str(unconfirmed))
            if request.session is None:
                if request.method == "GET":
                    return redirect("/app/signin")
                return problem(request, 403, "sign in first")
            if request.method == "POST" and not same_token(
                request.form.get("csrf"), request.session.csrf_token
            ):
                return problem(
                    request, 403, "this form's CSRF token is missing or wrong: reload the page and retry"
                )
        return handler(request, **match.groupdict())
    if any(pattern.match(request.path) for _, pattern, _, _ in ROUTES):
        return problem(request, 405, f"{request.method} is not allowed here")
    return problem(request, 404, "there is no such page")


# -- sign-in ------------------------------------------------------------------------------------


@route("GET", "/?", public=True)
def home(request: Request) -> dict[str, Any]:
    return redirect("/app/tasks")


@route("GET", "/static/(?P<name>[a-z.]+)", public=True)
def static(request: Request, name: str) -> dict[str, Any]:
    if name not in STATIC:
        return problem(request, 404, "there is no such file")
    response = _respond(200, (HERE / "static" / name).read_text(), STATIC[name])
    response["headers"]["cache-control"] = "public, max-age=3600"
    return response


@route("GET", "/signin", public=True)
def signin(request: Request) -> dict[str, Any]:
    return page(request, "signin.html.j2")


def _callback_url(request: Request) -> str:
    return f"{request.origin}/app/oauth/callback"


@route("GET", "/oauth/start", public=True)
def oauth_start(request: Request) -> dict[str, Any]:
    from codeloop.services.dashboard import access

    location, state = access.oauth_start(_callback_url(request))
    return redirect(location, [cookie(STATE_COOKIE, state, secure=request.secure, max_age=600)], status=302)


def _signed_in(request: Request, session_cookie: str) -> dict[str, Any]:
    hours = 3600 * 24 * 7  # the session row's expiry is the one that counts
    return redirect(
        "/app/tasks",
        [
            cookie(SESSION_COOKIE, session_cookie, secure=request.secure, max_age=hours),
            cookie(STATE_COOKIE, "", secure=request.secure, max_age=0),
        ],
    )


@route("GET", "/oauth/callback", public=True)
def oauth_callback(request: Request) -> dict[str, Any]:
    from codeloop.services.dashboard import access

    try:
        session_cookie = access.oauth_finish(
            request.query.get("code"),
            request.query.get("state"),
            request.cookies.get(STATE_COOKIE),
            _callback_url(request),
        )
    except access.SignInRefused as refused:
        return problem(request, 403, str(refused))
    return _signed_in(request, session_cookie)


@route("GET", "/login", public=True)
def operator_login(request: Request) -> dict[str, Any]:
    from codeloop.services.dashboard import access

    try:
        session_cookie = access.redeem_login_link(request.query.get("token"))
    except access.SignInRefused as refused:
        return problem(request, 403, str(refused))
    return _signed_in(request, session_cookie)


@route("POST", "/signout")
def signout(request: Request) -> dict[str, Any]:
    from codeloop.services.dashboard import access

    access.end_session(request.cookies.get(SESSION_COOKIE))
    return redirect("/app/signin", [cookie(SESSION_COOKIE, "", secure=request.secure, max_age=0)])


# -- pages --------------------------------------------------------------------------------------


@route("GET", "/tasks")
def tasks(request: Request) -> dict[str, Any]:
    from codeloop.domain.lifecycle import TaskStatus
    from codeloop.domain.models import TaskType
    from codeloop.services.dashboard import views

    try:
        where = parse_filter(request.query)
    except BadFilter as bad:
        return problem(request, 400, str(bad))
    listing = views.tasks_page(request.session, where, TaskCursor.decode(request.query.get("cursor")))
    return page(
        request,
        "tasks.html.j2",
        where=where,
        statuses=[s.value for s in TaskStatus],
        types=[t.value for t in TaskType],
        filters={k: v for k, v in where.model_dump(mode="json").items() if v is not None},
        **listing,
    )


@route("GET", f"/tasks/(?P<task_id>{UUID_TEXT})")
def task(request: Request, task_id: str) -> dict[str, Any]:
    from codeloop.services.dashboard import views

    try:
        data = views.task_page(request.session, task_id)
    except views.NotVisible:
        return problem(request, 404, f"no task {task_id}")
    return page(request, "task.html.j2", notice=notice(request), **data)


def _acting(
    request: Request, missing: str, act: Callable[[], str], conflicts: tuple[type[Exception], ...] = ()
) -> dict[str, Any]:
    """Do what a form asks and go where ``act`` says: 404 for what the session does not reach, 403
    without the permission, 409 when the state forbids it."""
    from codeloop.services.dashboard import views

    try:
        return redirect(act())
    except views.NotVisible:
        return problem(request, 404, missing)
    except views.Forbidden as forbidden:
        return problem(request, 403, str(forbidden))
    except conflicts as conflict:
        return problem(request, 409, str(conflict))


@route("POST", f"/tasks/(?P<task_id>{UUID_TEXT})/(?P<action>retry|cancel)")
def task_action(request: Request, task_id: str, action: str) -> dict[str, Any]:
    from codeloop.services.dashboard import views
    from codeloop.services.tasks.actions import TaskConflict

    def act() -> str:
        views.act_on_task(request.session, task_id, action)
        done = "retried: a new attempt started" if action == "retry" else "cancelled"
        return with_notice(f"/app/tasks/{task_id}", done)

    return _acting(request, f"no task {task_id}", act, (TaskConflict,))


@route("GET", "/deliveries")
def deliveries(request: Request) -> dict[str, Any]:
    from codeloop.domain.delivery_log import BadCursor, Cursor, DeliveryFilter
    from codeloop.services.dashboard import views

    fields = {k: v for k, v in request.query.items() if k in DeliveryFilter.model_fields and v}
    try:
        where = DeliveryFilter.model_validate(fields)
        after = Cursor.decode(request.query["cursor"]) if request.query.get("cursor") else None
    except (ValueError, BadCursor) as bad:
        return problem(request, 400, f"not a valid filter: {type(bad).__name__}")
    listing = views.deliveries_page(request.session, where, after)
    return page(request, "deliveries.html.j2", filters=fields, notice=notice(request), **listing)


@route("POST", r"/deliveries/(?P<delivery_id>[\w.:-]{1,200})/replay")
def replay(request: Request, delivery_id: str) -> dict[str, Any]:
    from codeloop.services.dashboard import views

    def act() -> str:
        status = views.replay(request.session, delivery_id)
        return with_notice("/app/deliveries", f"delivery {delivery_id} replayed: {status}")

    return _acting(request, f"no delivery {delivery_id}", act)


@route("GET", "/stats")
def stats(request: Request) -> dict[str, Any]:
    from codeloop.services.dashboard import views

    return page(request, "stats.html.j2", **views.stats_page(request.session))


@route("GET", "/health")
def health(request: Request) -> dict[str, Any]:
    from codeloop.services.dashboard import views

    return page(request, "health.html.j2", **views.health_page(request.session))
