import io

from django.contrib import admin
from django.db.models import Count
from django.http import HttpResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from matching import selectors
from matching.catalogue_import import mark_interrupted_batches
from matching.models import (
    Candidate,
    EmbeddingChunk,
    Encoder,
    ImportBatch,
    MatchRun,
    Offer,
    OfferEmbedding,
    OfferImage,
    PairVerdict,
    Product,
    ProductConflict,
    ProductEvent,
    ProductMembership,
    ProjectionModel,
    Shop,
)
from matching.product_export import write_products_csv


@admin.register(Shop)
class ShopAdmin(admin.ModelAdmin):
    list_display = ("name", "offer_count", "created_at")
    search_fields = ("name",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_offers=Count("offers"))

    @admin.display(ordering="_offers", description="offers")
    def offer_count(self, shop: Shop) -> int:
        return shop._offers


class OfferImageInline(admin.TabularInline):
    model = OfferImage
    extra = 0
    fields = ("position", "thumbnail", "source_path", "width", "height", "checksum")
    readonly_fields = fields
    can_delete = False

    @admin.display(description="image")
    def thumbnail(self, image: OfferImage) -> str:
        if not image.preprocessed:
            return "-"
        return format_html('<img src="{}" style="height:90px">', image.preprocessed.url)


@admin.register(Offer)
class OfferAdmin(admin.ModelAdmin):
    list_display = (
        "offer_id",
        "shop",
        "brand",
        "title",
        "price",
        "currency",
        "category",
        "created_at",
        "product_id",
        "n_images",
    )
    list_filter = ("shop", "category", "created_at", "currency")
    search_fields = ("offer_id", "title", "brand", "product_id")
    list_select_related = ("shop",)
    readonly_fields = ("brand_normalised", "text_normalised", "content_hash", "import_batch")
    inlines = [OfferImageInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_images=Count("images"))

    @admin.display(ordering="_images", description="images")
    def n_images(self, offer: Offer) -> int:
        return offer._images


@admin.register(ImportBatch)
class ImportBatchAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "source",
        "status",
        "started_at",
        "n_rows",
        "n_imported",
        "n_updated",
        "n_unchanged",
        "n_rejected",
        "n_images",
        "rate",
    )
    list_filter = ("status",)
    search_fields = ("source",)
    readonly_fields = [f.name for f in ImportBatch._meta.fields] + ["error_table"]
    exclude = ("errors",)

    @admin.display(description="rows/s")
    def rate(self, batch: ImportBatch) -> str:
        return f"{batch.rows_per_second:.0f}"

    @admin.display(description="rejected rows")
    def error_table(self, batch: ImportBatch) -> str:
        if not batch.errors:
            return "none"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (e.get("file", ""), e.get("line", ""), e.get("offer_id", ""), e.get("reason", ""))
                for e in batch.errors
            ),
        )
        return format_html(
            "<table><tr><th>file</th><th>line</th><th>offer_id</th><th>reason</th></tr>{}</table>",
            rows,
        )

    def has_add_permission(self, request) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        mark_interrupted_batches()  # a batch whose import process died shows as interrupted
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        mark_interrupted_batches()
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(Encoder)
class EncoderAdmin(admin.ModelAdmin):
    list_display = ("kind", "spec", "dim", "weights_checksum", "created_at")
    list_filter = ("kind",)


@admin.register(EmbeddingChunk)
class EmbeddingChunkAdmin(admin.ModelAdmin):
    list_display = ("id", "encoder", "path", "n_rows", "created_at")
    list_filter = ("encoder",)


@admin.register(OfferEmbedding)
class OfferEmbeddingAdmin(admin.ModelAdmin):
    list_display = ("offer", "encoder", "chunk", "row", "has_content")
    list_filter = ("encoder", "has_content")
    list_select_related = ("offer__shop", "encoder", "chunk")
    raw_id_fields = ("offer", "chunk")


@admin.register(ProjectionModel)
class ProjectionModelAdmin(admin.ModelAdmin):
    list_display = (
        "id", "name", "status", "features", "labels", "created_at", "n_train_offers", "val_r1"
    )  # fmt: skip
    list_filter = ("status", "features")
    readonly_fields = (
        "labels", "label_sources", "config", "metrics", "history", "numeric_scaler",
        "weights_path",
    )  # fmt: skip

    @admin.display(description="labels")
    def labels(self, model: ProjectionModel) -> str:
        return model.labels_summary

    @admin.display(description="val R@1")
    def val_r1(self, model: ProjectionModel):
        return model.metrics.get("val_R@1")


@admin.register(MatchRun)
class MatchRunAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "state",
        "query_shop",
        "index_shop",
        "model",
        "features",
        "n_queries",
        "aucpr",
        "created_at",
    )
    list_filter = ("status", "query_shop", "index_shop")
    readonly_fields = ("metrics", "pr_curve", "plot")

    @admin.display(description="status", ordering="status")
    def state(self, run: MatchRun) -> str:
        """The status, or "interrupted" for a run whose process is gone (stale-run rule)."""
        return selectors.run_state(run)

    @admin.display(description="AUCPR")
    def aucpr(self, run: MatchRun):
        return run.metrics.get("AUCPR")

    @admin.display(description="PR curve")
    def plot(self, run: MatchRun) -> str:
        if not run.plot_path:
            return "-"
        from django.conf import settings

        return format_html(
            '<img src="{}{}" style="max-width:640px">', settings.MEDIA_URL, run.plot_path
        )


@admin.register(Candidate)
class CandidateAdmin(admin.ModelAdmin):
    list_display = ("run", "query_offer", "rank", "candidate_offer", "similarity")
    list_filter = ("run", "rank")
    list_select_related = ("query_offer__shop", "candidate_offer__shop")
    raw_id_fields = ("query_offer", "candidate_offer")


# ------------------------------------------------------------------ the loop (issue 9)


@admin.register(PairVerdict)
class PairVerdictAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "query_offer",
        "candidate_offer",
        "verdict",
        "source",
        "run",
        "review_row_id",
        "votes_for",
        "votes_total",
        "decided_at",
    )
    list_filter = ("verdict", "source")
    raw_id_fields = ("query_offer", "candidate_offer", "run")
    list_select_related = ("query_offer__shop", "candidate_offer__shop")

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class ProductMembershipInline(admin.TabularInline):
    model = ProductMembership
    extra = 0
    fields = ("offer", "shop", "decided_by", "joined_at", "updated_at")
    readonly_fields = fields
    can_delete = False


class ProductEventInline(admin.TabularInline):
    model = ProductEvent
    extra = 0
    fields = ("at", "kind", "reason", "verdict", "details")
    readonly_fields = fields
    can_delete = False


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("key", "created_at", "alias_of", "n_offers")
    search_fields = ("key",)
    readonly_fields = ("key", "created_at", "alias_of")
    inlines = (ProductMembershipInline, ProductEventInline)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_n=Count("members"))

    @admin.display(ordering="_n", description="offers")
    def n_offers(self, product: Product) -> int:
        return product._n


@admin.register(ProductMembership)
class ProductMembershipAdmin(admin.ModelAdmin):
    """Offer -> product; the changelist links the CSV download of the feed."""

    list_display = ("offer", "shop", "product", "decided_by", "updated_at")
    list_filter = ("decided_by", "shop")
    list_select_related = ("offer__shop", "shop", "product")
    readonly_fields = ("offer", "shop", "product", "decided_by", "joined_at", "updated_at")
    change_list_template = "admin/matching/productmembership/change_list.html"

    def get_urls(self):
        return [
            path(
                "export.csv",
                self.admin_site.admin_view(self.export_view),
                name="matching_productmembership_export",
            ),
            *super().get_urls(),
        ]

    def export_view(self, request):
        """The same CSV as ``export_products`` (``?shop=NAME``, ``?since=YYYY-MM-DD``)."""
        from datetime import date

        if not self.has_view_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        shop = request.GET.get("shop") or None
        since = None
        if request.GET.get("since"):
            try:
                since = date.fromisoformat(request.GET["since"])
            except ValueError:
                return HttpResponse(
                    "since: not a date (YYYY-MM-DD)", status=400, content_type="text/plain"
                )
        buf = io.StringIO()
        write_products_csv(buf, since=since, shop=shop)
        response = HttpResponse(buf.getvalue(), content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="products-{stamp}.csv"'
        return response


@admin.register(ProductConflict)
class ProductConflictAdmin(admin.ModelAdmin):
    """Accepted pairs (or rejections) the products could not absorb. Those with a question go
    to validators as conflict rows (validation); the others are for an admin to resolve."""

    list_display = ("id", "status", "reason", "offers", "in_review", "created_at")
    list_filter = ("status",)
    readonly_fields = (
        "verdict",
        "reason",
        "offer_ids",
        "product_keys",
        "created_at",
        "offers",
        "query_offer",
        "candidate_ids",
        "resolved_at",
        "resolved_by_row_id",
        "resolution",
    )
    fields = ("status", *readonly_fields)

    @admin.display(description="review question", boolean=True)
    def in_review(self, conflict: ProductConflict) -> bool:
        return conflict.query_offer_id is not None

    @admin.display(description="offers involved")
    def offers(self, conflict: ProductConflict) -> str:
        shown = Offer.objects.filter(pk__in=conflict.offer_ids).select_related("shop")
        return format_html_join(
            ", ", "{}:{} ({})", ((o.shop.name, o.offer_id, o.title[:60]) for o in shown)
        )
