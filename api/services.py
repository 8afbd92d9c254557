"""API writes: create and revoke per-system tokens."""

from __future__ import annotations

from django.utils import timezone

from api import tokens
from api.models import ApiToken


def create_token(*, name: str) -> tuple[ApiToken, str]:
    """A new token for system ``name``; returns (the stored row, the plain token shown once)."""
    name = name.strip()
    if not name:
        raise ValueError("a token needs the name of the system that uses it")
    plain = tokens.new_token()
    row = ApiToken.objects.create(
        name=name, key_hash=tokens.hash_token(plain), prefix=plain[: tokens.PREFIX_LEN]
    )
    return row, plain


def revoke_tokens(*, ids) -> int:
    """Revoke the given tokens (already revoked ones keep their date); returns how many."""
    return ApiToken.objects.filter(pk__in=ids, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
