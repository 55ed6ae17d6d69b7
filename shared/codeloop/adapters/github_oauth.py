"""Sign-in with GitHub for the dashboard: the App's OAuth web flow and what the user may see.

The flow's pages are on GitHub's web host (``<web origin>/login/oauth/authorize`` and
``/access_token``: github.com, or the GHES host), the user's API on ``GITHUB_API_URL``. The
user-to-server token is used for the sign-in's calls and then dropped: it is never stored.
"""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
from pydantic import BaseModel, ConfigDict

from codeloop.domain.commands import effective_permission

ACCEPT_JSON = "application/vnd.github+json"
USER_AGENT = "codeloop"
TIMEOUT_SECONDS = 10.0
PAGE_SIZE = 100
MAX_PAGES = 20


class SignInFailed(RuntimeError):
    """GitHub did not sign the user in; the message says why (never the token or the secret)."""


class UserRepository(BaseModel):
    """A repository the signed-in user can access through one of the App's installations."""

    model_config = ConfigDict(frozen=True)

    id: int
    full_name: str
    installation_id: int
    permission: str  # the user's role on it: none, read, triage, write, maintain or admin


class SignedInUser(BaseModel):
    model_config = ConfigDict(frozen=True)

    login: str
    repositories: list[UserRepository]


def authorize_url(oauth_url: str, client_id: str, redirect_uri: str, state: str) -> str:
    query = urlencode({"client_id": client_id, "redirect_uri": redirect_uri, "state": state})
    return f"{oauth_url}/authorize?{query}"


def sign_in(
    oauth_url: str, api_url: str, client_id: str, client_secret: str, code: str, redirect_uri: str
) -> SignedInUser:
    """Trade the callback's code for a user-to-server token, then read who the user is and which of
    the App's installations and repositories GitHub says they can access."""
    with httpx.Client(headers={"User-Agent": USER_AGENT}, timeout=TIMEOUT_SECONDS) as http:
        try:
            answer = http.post(
                f"{oauth_url}/access_token",
                data={
                    "client_id": client_id,
                    "client_secret": client_secret,
                    "code": code,
                    "redirect_uri": redirect_uri,
                },
                headers={"Accept": "application/json"},
            )
        except httpx.TransportError as exc:
            raise SignInFailed(f"GitHub could not be reached ({type(exc).__name__})") from None
        token = answer.json().get("access_token") if answer.status_code == 200 else None
        if not token:  # GitHub answers 200 with {"error": "bad_verification_code"} for a spent code
            raise SignInFailed("GitHub refused the sign-in code (expired or already used); sign in again")
        http.headers.update({"Authorization": f"Bearer {token}", "Accept": ACCEPT_JSON})
        login = _get(http, f"{api_url}/user")["login"]
        repositories = [
            UserRepository(
                id=repo["id"],
                full_name=repo["full_name"],
                installation_id=installation["id"],
                permission=effective_permission({"user": {"permissions": repo.get("permissions") or {}}}),
            )
            for installation in _pages(http, f"{api_url}/user/installations", "installations")
            for repo in _pages(
                http, f"{api_url}/user/installations/{int(installation['id'])}/repositories", "repositories"
            )
        ]
    return SignedInUser(login=login, repositories=repositories)


def _get(http: httpx.Client, url: str, **params: object) -> dict:
    try:
        answer = http.get(url, params=params)
    except httpx.TransportError as exc:
        raise SignInFailed(f"GitHub could not be reached ({type(exc).__name__})") from None
    if answer.status_code != 200:
        raise SignInFailed(f"GitHub answered {answer.status_code} to {url.rsplit('/', 2)[-2:]}")
    return answer.json()


def _pages(http: httpx.Client, url: str, field: str) -> list[dict]:
    """Every item of a paged ``{total_count, <field>: [...]}`` listing."""
    items: list[dict] = []
    for page in range(1, MAX_PAGES + 1):
        batch = _get(http, url, per_page=PAGE_SIZE, page=page).get(field) or []
        items += batch
        if len(batch) < PAGE_SIZE:
            break
    return items
