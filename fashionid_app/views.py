import posixpath
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.static import serve

from operations import selectors as operations_selectors
from validation.permissions import admin_required, is_admin, is_validator

# Where the catalogue import stores offer images under MEDIA_ROOT (originals and the 254x367
# copies: matching/catalogue_import.py). Everything else in media (projection models, plots,
# embedding chunks, temporary files) is for admins only.
OFFER_IMAGES_DIR = "offers/"


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Admins: what needs attention (open review rows, failed jobs, runs not yet routed) and
    where to start work; validators are sent to the review queue."""
    if is_admin(request.user):
        return render(request, "home.html", {"attention": operations_selectors.attention()})
    try:
        return redirect(reverse("validation:review"))
    except NoReverseMatch:
        return render(request, "home.html")


def may_read_media(user, path: str) -> bool:
    """Admins read all of media; validators read offer images only; others nothing.

    `path` is normalised first, so `offers/../models/...` is judged as `models/...`.
    """
    if is_admin(user):
        return True
    clean = posixpath.normpath(path).lstrip("/")
    return is_validator(user) and clean.startswith(OFFER_IMAGES_DIR)


@login_required
def protected_media(request: HttpRequest, path: str) -> HttpResponse:
    """Media behind login and role (behind nginx: X-Accel-Redirect). Path traversal is
    refused by `serve` (safe_join) for everyone."""
    if not may_read_media(request.user, path):
        raise PermissionDenied("your role may not read this file")
    return serve(request, path, document_root=settings.MEDIA_ROOT)


def needs_queue(view: Callable) -> Callable:
    """Wrap a django-rq dashboard view: without REDIS_URL there is no queue to show (jobs run
    inline in the calling process), so admins get a page that says so instead of a 500."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if settings.REDIS_URL:
            return view(request, *args, **kwargs)
        return jobs_run_inline(request)

    return wrapped


@admin_required
def jobs_run_inline(request: HttpRequest) -> HttpResponse:
    return render(request, "jobs_inline.html")
