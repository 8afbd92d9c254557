"""Token generation and hashing (pure: no database)."""

from __future__ import annotations

import hashlib
import secrets

PREFIX_LEN = 8


def new_token() -> str:
    """A fresh token: 32 random bytes, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
