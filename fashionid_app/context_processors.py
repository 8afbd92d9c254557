from django.conf import settings
from django.http import HttpRequest

from matching.selectors import catalogue_is_synthetic


def site(request: HttpRequest) -> dict:
    """`synthetic_data`: the UI labels generated demo data as synthetic."""
    return {
        "synthetic_data": settings.FASHIONID_SYNTHETIC_DATA
        or (request.user.is_authenticated and catalogue_is_synthetic())
    }
