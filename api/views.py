"""Read-only JSON feeds for downstream systems (thin: parse filters, call a selector).

Every view is a GET-only List- or RetrieveAPIView behind ApiTokenAuthentication and
HasApiToken (settings REST_FRAMEWORK): no token, an unknown or a revoked one: 401;
POST/PUT/PATCH/DELETE: 405.

Adding a feed takes a filter serializer, a row serializer, a selector returning a queryset,
and a FeedView subclass naming them and its order (``pagination_class =
feed_pagination("updated_at", "id")``; see ProductsView), plus its line in api/urls.py.
"""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, generics
from rest_framework.pagination import CursorPagination

from api import serializers
from matching import loop_selectors
from matching import selectors as matching_selectors
from matching.models import Product
from validation.selectors import matches as match_selectors


class FeedPagination(CursorPagination):
    """Cursor pages in the feed's stable order (oldest first); follow the `next` links."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = ("decided_at", "id")


def feed_pagination(*ordering: str) -> type[FeedPagination]:
    """Cursor pagination in ``ordering`` (a time field, then a unique one: a stable order)."""
    return type("FeedPagination", (FeedPagination,), {"ordering": ordering})


class FeedView(generics.ListAPIView):
    filter_serializer_class: type[serializers.FeedFilterSerializer]
    pagination_class = feed_pagination("decided_at", "id")

    def filters(self) -> dict:
        params = self.filter_serializer_class(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        data = dict(params.validated_data)
        shop = data.get("shop")
        if shop is not None:
            try:
                matching_selectors.shops_by_names([shop])
            except ObjectDoesNotExist as exc:
                raise exceptions.ValidationError({"shop": [f"unknown shop: {shop!r}"]}) from exc
        return data

    def select(self, **filters) -> QuerySet:
        raise NotImplementedError

    def get_queryset(self) -> QuerySet:
        return self.select(**self.filters())


@extend_schema(
    summary="Accepted matches",
    description=(
        "Accepted pairs (auto- and human-accepted), the rows of each run's match export "
        "(one query offer per query shop and matched offer within a run). Ordered by "
        "decided_at, then id; cursor-paginated (follow `next`)."
    ),
    parameters=[serializers.MatchFilterSerializer],
)
class MatchesView(FeedView):
    serializer_class = serializers.MatchSerializer
    filter_serializer_class = serializers.MatchFilterSerializer

    def select(self, *, shop=None, updated_since=None, run=None) -> QuerySet:
        return match_selectors.accepted_decisions(
            shop=shop, updated_since=updated_since, run_id=run
        )


@extend_schema(
    summary="Products (offers per product key)",
    description=(
        "Products built from the accepted pairs of all runs, each with its stable key, the "
        "keys merged into it and its offers (one per shop): the content of `export_products`, "
        "grouped by product. Products merged into another are not listed (their keys are in "
        "the survivor's `aliases`); a product all of whose offers left is listed with none. "
        "Ordered by updated_at (latest membership change), then id; cursor-paginated "
        "(follow `next`)."
    ),
    parameters=[serializers.ProductFilterSerializer],
)
class ProductsView(FeedView):
    serializer_class = serializers.ProductSerializer
    filter_serializer_class = serializers.ProductFilterSerializer
    pagination_class = feed_pagination("updated_at", "id")

    def select(self, *, shop=None, updated_since=None) -> QuerySet:
        return loop_selectors.products_feed(shop=shop, updated_since=updated_since)


@extend_schema(
    summary="One product by key",
    description=(
        "The product a key names. A key of a product that was merged into another answers "
        "with the surviving product: `key` is the survivor's, `requested_key` the one asked "
        "for, `alias_of` the survivor's key (null when the key is the product's own). Unknown "
        "key: 404. A product all of whose offers left answers with no offers."
    ),
    parameters=[OpenApiParameter("key", str, OpenApiParameter.PATH, description="product key")],
)
class ProductDetailView(generics.RetrieveAPIView):
    serializer_class = serializers.ProductDetailSerializer

    def get_object(self) -> Product:
        key = self.kwargs["key"]
        try:
            product = loop_selectors.feed_product_by_key(key)
        except Product.DoesNotExist as exc:
            raise exceptions.NotFound(f"no product with key {key!r}") from exc
        product.requested_key = key
        return product
