"""Roles: admin = superuser or member of "Admins"; validator = member of "Validators" (admins
may review too, to try the page). Every view is behind login; these decorators add the role."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

ADMINS = "Admins"
VALIDATORS = "Validators"


def is_admin(user) -> bool:
    return bool(
        user.is_authenticated and (user.is_superuser or user.groups.filter(name=ADMINS).exists())
    )


def is_validator(user) -> bool:
    return bool(
        user.is_authenticated and (is_admin(user) or user.groups.filter(name=VALIDATORS).exists())
    )


def _role_required(check: Callable) -> Callable:
    def decorator(view: Callable) -> Callable:
        @login_required
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not check(request.user):
                raise PermissionDenied("your role may not open this page")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


admin_required = _role_required(is_admin)
validator_required = _role_required(is_validator)
