from django.contrib import admin

from validation.models import (
    Decision,
    Export,
    Judgement,
    ReviewLease,
    ReviewRow,
    ReviewSettings,
    ReviewSkip,
    Routing,
)


@admin.register(ReviewSettings)
class ReviewSettingsAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "judgements_per_row",
        "lease_minutes",
        "gold_rate",
        "undo_seconds",
        "show_price_colour_sizes",
        "aggregation_rule",
        "early_decision",
    )

    def has_add_permission(self, request):
        return not ReviewSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        ReviewSettings.load()
        return super().changelist_view(request, extra_context)


@admin.register(Routing)
class RoutingAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "run",
        "accept",
        "review",
        "n_auto",
        "n_review",
        "n_dropped",
        "n_gold",
        "is_current",
        "created_by",
        "created_at",
    )
    list_filter = ("is_current",)
    readonly_fields = ("summary",)


class JudgementInline(admin.TabularInline):
    model = Judgement
    extra = 0
    fields = (
        "validator",
        "choice",
        "slot",
        "created_at",
        "seconds_spent",
        "undone_at",
        "revealed_at",
    )
    readonly_fields = fields
    can_delete = False


@admin.register(ReviewRow)
class ReviewRowAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "run",
        "query_offer",
        "kind",
        "status",
        "truth",
        "n_judgements",
        "judgements_needed",
        "decision",
        "votes_for",
        "no_majority",
        "top1_similarity",
    )
    list_filter = ("kind", "status", "truth", "no_majority", "run")
    raw_id_fields = ("query_offer", "truth_offer", "routing")
    inlines = [JudgementInline]


@admin.register(Judgement)
class JudgementAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "row",
        "validator",
        "choice",
        "slot",
        "created_at",
        "seconds_spent",
        "undone_at",
        "revealed_at",
    )
    list_filter = ("validator", "row__kind")
    raw_id_fields = ("row",)
    date_hierarchy = "created_at"


@admin.register(ReviewLease)
class ReviewLeaseAdmin(admin.ModelAdmin):
    list_display = ("id", "row", "validator", "leased_at", "expires_at")
    raw_id_fields = ("row",)


@admin.register(ReviewSkip)
class ReviewSkipAdmin(admin.ModelAdmin):
    list_display = ("id", "row", "validator", "created_at")
    raw_id_fields = ("row",)


@admin.register(Decision)
class DecisionAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "run",
        "query_offer",
        "matched_offer",
        "source",
        "similarity",
        "votes_for",
        "votes_total",
        "decided_at",
        "withdrawn_at",
    )
    list_filter = ("source", ("withdrawn_at", admin.EmptyFieldListFilter), "run")
    raw_id_fields = ("query_offer", "matched_offer", "row", "routing")


@admin.register(Export)
class ExportAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "run",
        "status",
        "n_rows",
        "n_conflicts_dropped",
        "created_by",
        "created_at",
    )
    list_filter = ("status",)
