"""Read-only JSON feeds for downstream systems (thin: parse filters, call a selector).

Every view is a GET-only ListAPIView behind ApiTokenAuthentication and HasApiToken (settings
REST_FRAMEWORK): no token, an unknown or a revoked one: 401; POST/PUT/PATCH/DELETE: 405.

Adding a feed (e.g. /api/v1/products/ once the product clusters exist) takes a filter
serializer, a row serializer, a selector returning a queryset, and a FeedView subclass naming
them and its order (``pagination_class = feed_pagination("updated_at", "id")``; see
MatchesView), plus its line in api/urls.py.
"""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics
from rest_framework.pagination import CursorPagination

from api import serializers
from matching import selectors as matching_selectors
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
