from django.apps import AppConfig


class ApiConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "api"
    verbose_name = "API (read-only JSON for downstream systems)"

    def ready(self) -> None:
        # registers the OpenAPI description of the token authentication (drf-spectacular)
        from api import schema  # noqa: F401
