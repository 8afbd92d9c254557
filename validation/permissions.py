"""Roles: admin = superuser or member of "Admins"; validator = member of "Validators" (admins
may review too, to try the page). Every view is behind login; these decorators add the role."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

ADMINS = "Admins"
VALIDATORS = "Validators"


def _role_groups(user) -> frozenset[str]:
    """The user's role groups, read once per user object (one query; a request's user is
    loaded afresh for every request, so a change of groups shows on the next request)."""
    groups = getattr(user, "_fashionid_role_groups", None)
    if groups is None:
        groups = frozenset(
            user.groups.filter(name__in=(ADMINS, VALIDATORS)).values_list("name", flat=True)
        )
        user._fashionid_role_groups = groups
    return groups


def is_admin(user) -> bool:
    return bool(user.is_authenticated and (user.is_superuser or ADMINS in _role_groups(user)))


def is_validator(user) -> bool:
    return bool(user.is_authenticated and (is_admin(user) or VALIDATORS in _role_groups(user)))


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
