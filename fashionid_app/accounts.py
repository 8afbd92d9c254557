"""Demo and bootstrap accounts: an admin and validators with fresh random passwords."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction


@transaction.atomic
def ensure_account(*, username: str, group: str, superuser: bool = False) -> str:
    """Create or reset the account; returns its new password (shown once)."""
    user, _ = get_user_model().objects.get_or_create(username=username)
    password = secrets.token_urlsafe(9)
    user.set_password(password)
    user.is_staff = superuser
    user.is_superuser = superuser
    user.save()
    user.groups.add(Group.objects.get(name=group))
    return password
