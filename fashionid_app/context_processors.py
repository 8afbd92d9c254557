from django.http import HttpRequest

from matching.selectors import catalogue_is_synthetic


def site(request: HttpRequest) -> dict:
    """`synthetic_data`: the UI labels generated data (shops marked synthetic) as such."""
    return {"synthetic_data": request.user.is_authenticated and catalogue_is_synthetic()}
