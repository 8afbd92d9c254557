from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django_rq.urls import get_admin_urlpatterns, get_api_urlpatterns

from fashionid_app import views

# The django-rq dashboard, as `include("django_rq.urls")` would give it, but each view answers
# "jobs run inline" (admins only) while there is no REDIS_URL, instead of failing to connect.
rq_urlpatterns = [
    *get_api_urlpatterns(),
    *get_admin_urlpatterns(),
]
for pattern in rq_urlpatterns:
    pattern.callback = views.needs_queue(pattern.callback)

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/rq/", include((rq_urlpatterns, "django_rq"))),
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.urls")),
    path("", include("validation.urls")),
    path("", include("operations.urls")),
    # Media behind login and role: validators read offer images only, admins everything
    # (views.may_read_media). Behind a real web server this is where X-Accel-Redirect would go.
    path(f"{settings.MEDIA_URL.lstrip('/')}<path:path>", views.protected_media, name="media"),
]
