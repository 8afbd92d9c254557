from django.contrib import admin

from operations.models import PipelineJob


@admin.register(PipelineJob)
class PipelineJobAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "status", "stage", "created_at", "finished_at", "run", "model")
    list_filter = ("kind", "status")
    readonly_fields = [f.name for f in PipelineJob._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False  # jobs are started from the start pages (operations:start_match/_train)
