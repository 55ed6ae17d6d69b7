"""Task API keys: ``cl_<prefix>_<secret>``. Only a hash is stored; the key is shown once."""

from __future__ import annotations

import hashlib
import secrets

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
