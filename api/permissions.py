from __future__ import annotations

from rest_framework import permissions

from api.models import ApiToken


class HasApiToken(permissions.BasePermission):
    """Only requests authenticated by an active API token, and only reads."""

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, ApiToken) and request.auth.revoked_at is None
