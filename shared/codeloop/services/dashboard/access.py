"""Who is at the dashboard: sign-in with GitHub, operators' one-time links, sessions, and whether a
session may act on a repository.

A session id is random, stored hashed, and travels in a cookie signed with a key kept in
PostgreSQL (made once, shared by every instance). The user-to-server token serves the sign-in
and is dropped: the session keeps the repositories GitHub said the user can access.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

from codeloop.adapters import github_oauth
from codeloop.db import dashboard_store
from codeloop.db.pool import transaction
from codeloop.domain.commands import permission_allows
from codeloop.domain.dashboard import OPERATOR, Session, new_token, sign, token_hash, unsign
from codeloop.domain.models import Repository
from codeloop.settings import get_settings

LOGIN_LINK_LIFETIME = timedelta(minutes=15)


class SignInRefused(RuntimeError):
    """The sign-in cannot complete; the message is safe to show."""


@functools.cache
def signing_key() -> str:
    with transaction() as conn:
        return dashboard_store.signing_key(conn)


def _new_session(login: str, *, operator: bool, repositories: list[github_oauth.UserRepository]) -> str:
    """Store a session; returns the signed cookie value that names it."""
    session_id = new_token()
    session = Session(
        login=login,
        operator=operator,
        repository_ids=[repo.id for repo in repositories],
        permissions={str(repo.id): repo.permission for repo in repositories},
        csrf_token=new_token(),
        expires_at=datetime.now(UTC) + timedelta(hours=get_settings().dashboard_session_hours),
    )
    with transaction(actor=login) as conn:
        dashboard_store.create_session(conn, token_hash(session_id), session)
    return sign(session_id, signing_key())


def session_for(signed_cookie: str | None) -> Session | None:
    """The live session a cookie names, or None."""
    session_id = unsign(signed_cookie, signing_key())
    if session_id is None:
        return None
    with transaction() as conn:
        return dashboard_store.get_session(conn, token_hash(session_id))


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
    return _new_session(user.login, operator=False, repositories=user.repositories)


# -- acting -------------------------------------------------------------------------------------


def may_act(session: Session, repository: Repository | None) -> bool:
    """Retry, cancel and replay follow the rule of commands that start work (an operator may)."""
    from codeloop.services.intake.requests import may_start_work

    if session.operator:
        return True
    if repository is None or repository.installation_id is None or not session.reaches(repository.id):
        return False
    return may_start_work(repository.installation_id, repository.full_name, session.login)


def shows_actions(session: Session, repository_id: int) -> bool:
    """Whether to offer the buttons: GitHub's role for the user reaches write, the lowest threshold
    commands may have (the server checks the repository's own rule when the form is sent)."""
    return session.operator or permission_allows(session.permissions.get(str(repository_id)), "write")
