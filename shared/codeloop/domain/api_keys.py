"""Task API keys: ``cl_<prefix>_<secret>``. Only a hash is stored; the key is shown once.

A key is scoped: it reaches the tasks of its installations and repositories, nothing else. An
empty scope (a key made before scopes existed) reaches nothing.
"""

from __future__ import annotations

import hashlib
import secrets

from codeloop.domain.models import ApiKey, Repository, Scope

KEY_PREFIX = "cl_"


def new_key() -> tuple[str, str, str]:
    """A fresh key, with its display prefix and the hash to store."""
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    return key, prefix, hash_key(key)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_from_headers(headers: dict[str, str]) -> str | None:
    """The key a request presents: ``Authorization: Bearer <key>`` or ``X-Api-Key: <key>``."""
    authorization = headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return headers.get("x-api-key", "").strip() or None


def reaches(key: Scope, repository: Repository) -> bool:
    """Whether the key may see and act on this repository's tasks."""
    return repository.id in key.repository_ids or (
        repository.installation_id is not None and repository.installation_id in key.installation_ids
    )


def rate_bucket(key: ApiKey) -> str:
    """The name of the key's request window in the shared rate buckets."""
    return f"api-key:{key.id}"
