from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from fashionid_app import views

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
    path("", include("validation.urls")),
    # Media (offer images) are served to logged-in users only; behind a real web server
    # this is where X-Accel-Redirect would go.
    path(f"{settings.MEDIA_URL.lstrip('/')}<path:path>", views.protected_media, name="media"),
]
