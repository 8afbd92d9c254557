from django.contrib import admin, messages

from api import services
from api.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are created by `manage.py create_api_token NAME` (it prints the token once);
    here admins see them (hash prefix, last use) and revoke them."""

    list_display = ("name", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix")
    readonly_fields = ("name", "prefix", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        n = services.revoke_tokens(ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{n} token(s) revoked.", messages.SUCCESS)
