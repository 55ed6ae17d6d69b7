"""GitHub's side of the App manifest flow: trade the one-time ``code`` for the new App's credentials.

``POST {GITHUB_API_URL}/app-manifests/{code}/conversions`` takes no authentication: the code is
the credential. It lasts one hour and works once; GitHub answers 404 (or 422) afterwards.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx

from codeloop.domain.app_manifest import CODE_PATTERN, AppCredentials

ACCEPT_JSON = "application/vnd.github+json"
USER_AGENT = "codeloop"
TIMEOUT_SECONDS = 30.0


class ManifestConversionError(RuntimeError):
    """GitHub did not turn the code into an App; the message says why and what to do."""


def convert_manifest_code(api_url: str, code: str) -> AppCredentials:
    if not CODE_PATTERN.fullmatch(code):
        raise ManifestConversionError("GitHub's answer carried a malformed code; nothing was created here")
    url = f"{api_url}/app-manifests/{quote(code, safe='')}/conversions"
    try:
        response = httpx.post(
            url, headers={"Accept": ACCEPT_JSON, "User-Agent": USER_AGENT}, timeout=TIMEOUT_SECONDS
        )
    except httpx.TransportError as exc:
        raise ManifestConversionError(f"cannot reach {api_url} ({exc}); check GITHUB_API_URL") from exc
    if response.status_code in (404, 422):
        raise ManifestConversionError(
            f"GitHub refused the code ({response.status_code}): it expired (codes last one hour) "
            "or was already used. Nothing was written; run `codeloop app create` again."
        )
    if response.status_code >= 400:
        raise ManifestConversionError(
            f"GitHub answered {response.status_code} to the code's conversion; nothing was written"
        )
    try:
        return AppCredentials.model_validate(response.json())
    except ValueError as exc:  # not JSON, or pydantic's ValidationError
        raise ManifestConversionError(
            "GitHub's conversion answer lacks the App's credentials; nothing was written"
        ) from exc
