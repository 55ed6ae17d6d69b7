"""Who is at the dashboard: sign-in with GitHub, operators' one-time links, sessions, and whether a
session may act on a repository.

A session id is random, stored hashed, and travels in a cookie signed with a key kept in
PostgreSQL (made once, shared by every instance). The user-to-server token serves the sign-in
and is dropped: the session keeps the repositories GitHub said the user can access. Without the
token, a user's access is confirmed again with the App's own identity (their role on each of
those repositories) once ``DASHBOARD_ACCESS_RECHECK_MINUTES`` have passed; repositories they lost
leave the session.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

from codeloop.adapters import github_oauth
from codeloop.db import dashboard_store
from codeloop.db.pool import transaction
from codeloop.domain.commands import permission_allows
from codeloop.domain.dashboard import (
    OPERATOR,
    Session,
    confirmed,
    new_token,
    recheck_due,
    sign,
    token_hash,
    unsign,
)
from codeloop.domain.models import Repository
from codeloop.observability import logger
from codeloop.settings import get_settings

LOGIN_LINK_LIFETIME = timedelta(minutes=15)
RECHECKS_AT_ONCE = 8  # concurrent role lookups of one recheck


class SignInRefused(RuntimeError):
    """The sign-in cannot complete; the message is safe to show."""


class AccessUnconfirmed(RuntimeError):
    """GitHub could not be asked (down, rate-limited) whether the user still has their repositories:
    nothing is shown until it can; the message is safe to show."""


@functools.cache
def signing_key() -> str:
    with transaction() as conn:
        return dashboard_store.signing_key(conn)


def _new_session(login: str, *, operator: bool, repositories: list[github_oauth.UserRepository]) -> str:
    """Store a session; returns the signed cookie value that names it."""
    session_id = new_token()
    now = datetime.now(UTC)
    session = Session(
        login=login,
        operator=operator,
        repository_ids=[repo.id for repo in repositories],
        permissions={str(repo.id): repo.permission for repo in repositories},
        csrf_token=new_token(),
        expires_at=now + timedelta(hours=get_settings().dashboard_session_hours),
        access_checked_at=now,
    )
    with transaction(actor=login) as conn:
        dashboard_store.create_session(conn, token_hash(session_id), session)
    return sign(session_id, signing_key())


def session_for(signed_cookie: str | None) -> Session | None:
    """The live session a cookie names, or None; a user's repositories confirmed again by GitHub
    when they were last confirmed ``DASHBOARD_ACCESS_RECHECK_MINUTES`` ago or more."""
    session_id = unsign(signed_cookie, signing_key())
    if session_id is None:
        return None
    with transaction() as conn:
        session = dashboard_store.get_session(conn, token_hash(session_id))
    now = datetime.now(UTC)
    interval = timedelta(minutes=get_settings().dashboard_access_recheck_minutes)
    if session is None or not recheck_due(session, now, interval):
        return session
    return _recheck(token_hash(session_id), session, now)


def _recheck(id_hash: str, session: Session, now: datetime) -> Session:
    """Ask GitHub, as the App, for the user's role on each repository of the session that codeloop
    knows, and keep those where they still have one. A repository codeloop does not know has
    nothing stored to show; it leaves the session too (signing in again brings it back)."""
    from concurrent.futures import ThreadPoolExecutor

    with transaction() as conn:
        repositories = dashboard_store.repositories(conn, session.scope)
    asked = [repo for repo in repositories if repo.installation_id is not None]
    with ThreadPoolExecutor(max_workers=max(1, min(RECHECKS_AT_ONCE, len(asked)))) as pool:
        roles = dict(
            zip([repo.id for repo in asked], pool.map(lambda r: _role(session.login, r), asked), strict=True)
        )
    updated = confirmed(session, roles, now)
    with transaction(actor=session.login) as conn:
        dashboard_store.update_session_access(conn, id_hash, updated)
    if lost := len(session.repository_ids) - len(updated.repository_ids):
        logger.info("dashboard: repositories left a session at its recheck", extra={"lost": lost})
    return updated


def _role(login: str, repository: dashboard_store.RepositoryRow) -> str:
    """The user's role as GitHub answers the App; "none" when GitHub says the App itself may no
    longer ask (uninstalled from the repository, suspended: 403, 404, 422)."""
    from codeloop.adapters import github

    try:
        return github.collaborator_permission(repository.installation_id, repository.full_name, login)
    except github.GitHubError as exc:
        if exc.status in (403, 404, 422) and not isinstance(exc, github.GitHubRateLimited):
            return "none"
        raise AccessUnconfirmed(
            "GitHub could not confirm your access to your repositories just now; try again in a minute"
        ) from exc


def prune(now: datetime) -> dict[str, int]:
    """Delete expired sessions and spent or expired one-time links (the sweeper's job)."""
    with transaction() as conn:
        return dashboard_store.prune(conn, now)


def end_session(signed_cookie: str | None) -> None:
    session_id = unsign(signed_cookie, signing_key())
    if session_id is not None:
        with transaction() as conn:
            dashboard_store.delete_session(conn, token_hash(session_id))


# -- operators ----------------------------------------------------------------------------------


def create_login_link(base_url: str) -> str:
    """A one-time link that signs an operator in (every installation), valid LOGIN_LINK_LIFETIME."""
    token = new_token()
    with transaction(actor="cli") as conn:
        dashboard_store.create_login_link(conn, token_hash(token), datetime.now(UTC) + LOGIN_LINK_LIFETIME)
    return f"{base_url.rstrip('/')}/app/login?token={token}"


def redeem_login_link(token: str | None) -> str:
    """The signed session cookie for a live, unused link."""
    with transaction() as conn:
        live = bool(token) and dashboard_store.redeem_login_link(conn, token_hash(token or ""))
    if not live:
        raise SignInRefused("this sign-in link is spent or expired: run `codeloop dashboard login` again")
    return _new_session(OPERATOR, operator=True, repositories=[])


# -- sign-in with GitHub ------------------------------------------------------------------------


def oauth_start(redirect_uri: str) -> tuple[str, str]:
    """Where to send the browser on GitHub, and the signed state cookie that must come back."""
    settings = get_settings()
    client_id, _ = settings.oauth_client()
    state = new_token()
    return (
        github_oauth.authorize_url(settings.github_oauth_url, client_id, redirect_uri, state),
        sign(state, signing_key()),
    )


def oauth_finish(code: str | None, state: str | None, state_cookie: str | None, redirect_uri: str) -> str:
    """The signed session cookie of the user GitHub signed in, once the state matches."""
    expected = unsign(state_cookie, signing_key())
    if not code or not state or expected is None or expected != state:
        raise SignInRefused("the sign-in did not come back from the page that started it; sign in again")
    settings = get_settings()
    client_id, client_secret = settings.oauth_client()
    try:
        user = github_oauth.sign_in(
            settings.github_oauth_url, settings.github_api_url, client_id, client_secret, code, redirect_uri
        )
    except github_oauth.SignInFailed as failed:
        raise SignInRefused(str(failed)) from None
    if not user.repositories:  # any GitHub account can authorize the App; only its users get in
        raise SignInRefused(
            "GitHub says you can access no repository where the codeloop App is installed; "
            "once you can, sign in again"
        )
    return _new_session(user.login, operator=False, repositories=user.repositories)


# -- acting -------------------------------------------------------------------------------------


def may_act(session: Session, repository: Repository | None) -> bool:
    """Retry, cancel and replay follow the rule of commands that start work (an operator may).

    That rule is asked of GitHub with the App's key; a user whose role at sign-in cannot reach any
    threshold is refused first, so a reader cannot spend the installation's API budget on it."""
    from codeloop.services.intake.requests import may_start_work

    if session.operator:
        return True
    if repository is None or repository.installation_id is None or not shows_actions(session, repository.id):
        return False
    return may_start_work(repository.installation_id, repository.full_name, session.login)


def shows_actions(session: Session, repository_id: int) -> bool:
    """Whether to offer the buttons (and to ask GitHub when a form is sent): the role GitHub gave
    the user on a repository the session reaches reaches write, the lowest threshold commands may
    have (the server checks the repository's own rule when the form is sent)."""
    return session.operator or permission_allows(session.permissions.get(str(repository_id)), "write")
