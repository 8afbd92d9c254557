from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict:
    return {"synthetic_data": settings.FASHIONID_SYNTHETIC_DATA}
