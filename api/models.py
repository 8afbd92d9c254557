"""Per-system API tokens.

A token belongs to a downstream system (a name), not to a person or a validator account: a
request authenticated by one carries an ``ApiClient`` identity that no login page, session or
Django permission knows. Only the SHA-256 hash of the token is stored (tokens are 256-bit
random secrets, so a fast hash suffices); the plain token is printed once, by
``manage.py create_api_token NAME``. Admins revoke a token in the Django admin (revoked_at).
"""

from __future__ import annotations

from django.db import models


class ApiToken(models.Model):
    name = models.CharField(max_length=100, help_text="the system that uses this token")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(
        max_length=8, editable=False, help_text="first characters of the token, to recognise it"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        state = " (revoked)" if self.revoked_at else ""
        return f"API token {self.prefix}… of {self.name}{state}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
