from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.static import serve


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each role to its start page: admins to the runs, validators to the review queue."""
    user = request.user
    is_admin = user.is_superuser or user.groups.filter(name="Admins").exists()
    target = "validation:runs" if is_admin else "validation:review"
    try:
        return redirect(reverse(target))
    except NoReverseMatch:
        return render(request, "home.html")


@login_required
def protected_media(request: HttpRequest, path: str) -> HttpResponse:
    """Offer images and plots, for logged-in users only (behind nginx: X-Accel-Redirect)."""
    return serve(request, path, document_root=settings.MEDIA_ROOT)
