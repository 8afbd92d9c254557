"""Token authentication for the API: ``Authorization: Token <token>`` (or ``Bearer <token>``).

This is the only authentication class the API accepts (settings.REST_FRAMEWORK), so a
validator's or an admin's session cookie gives no access. A missing, unknown or revoked token
is answered 401.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone
from rest_framework import authentication, exceptions

from api import tokens
from api.models import ApiToken

KEYWORDS = ("token", "bearer")
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class ApiClient:
    """The identity of a request made with a token: a system, not a user account."""

    name: str
    token_id: int
    is_authenticated: bool = True
    is_active: bool = True
    is_staff: bool = False
    is_superuser: bool = False

    def __str__(self) -> str:
        return f"API client {self.name}"


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].decode("latin-1").lower() not in KEYWORDS:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "Invalid token header: give 'Authorization: Token <token>'."
            )
        try:
            plain = parts[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("Invalid token.") from exc
        row = ApiToken.objects.filter(key_hash=tokens.hash_token(plain)).first()
        if row is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if row.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This token has been revoked.")
        now = timezone.now()
        if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
        return ApiClient(name=row.name, token_id=row.pk), row

    def authenticate_header(self, request) -> str:
        # makes DRF answer 401 (not 403) to a request without valid credentials
        return self.keyword
