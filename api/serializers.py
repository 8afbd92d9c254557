"""Read-only representations of the API: matches, products (and their query filters)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from matching.models import PairVerdict, Product, ProductMembership
from validation.models import Decision


class FeedFilterSerializer(serializers.Serializer):
    """Query parameters shared by the feeds (validated; a bad value is answered 400)."""

    shop = serializers.CharField(
        required=False, help_text="shop name: rows that involve an offer of this shop"
    )
    updated_since = serializers.DateTimeField(
        required=False,
        help_text="ISO 8601 date-time (e.g. 2026-11-27T00:00:00Z): rows decided at or after it",
    )


class MatchFilterSerializer(FeedFilterSerializer):
    run = serializers.IntegerField(required=False, min_value=1, help_text="match run id")


class MatchSerializer(serializers.ModelSerializer):
    """One accepted pair, as in the match export of its run (validation/export.py)."""

    run = serializers.IntegerField(source="run_id")
    model = serializers.IntegerField(
        source="run.model_id", allow_null=True, help_text="projection model id (null: raw run)"
    )
    query_offer_id = serializers.CharField(source="query_offer.offer_id")
    query_shop = serializers.CharField(source="query_offer.shop.name")
    matched_offer_id = serializers.CharField(source="matched_offer.offer_id")
    matched_shop = serializers.CharField(source="matched_offer.shop.name")
    source = serializers.ChoiceField(
        choices=Decision.Source.choices, help_text="auto: routing threshold; human: validators"
    )

    class Meta:
        model = Decision
        fields = (
            "id",
            "query_offer_id",
            "query_shop",
            "matched_offer_id",
            "matched_shop",
            "similarity",
            "source",
            "votes_for",
            "votes_total",
            "model",
            "run",
            "decided_at",
        )
        read_only_fields = fields


class ProductFilterSerializer(FeedFilterSerializer):
    shop = serializers.CharField(
        required=False,
        help_text="shop name: products holding an offer of this shop (with all their offers)",
    )
    updated_since = serializers.DateTimeField(
        required=False,
        help_text="ISO 8601 date-time (e.g. 2026-11-27T00:00:00Z): products with a membership "
        "change (an offer joined, moved in, was confirmed by validators, or left) at or after it",
    )


class ProductOfferSerializer(serializers.ModelSerializer):
    """One offer of a product: a row of the product export (matching/product_export.py)."""

    offer_id = serializers.CharField(source="offer.offer_id")
    shop = serializers.CharField(source="shop.name")
    decided_by = serializers.ChoiceField(
        choices=PairVerdict.Source.choices,
        help_text="auto: routing threshold; human: validators",
    )

    class Meta:
        model = ProductMembership
        fields = ("offer_id", "shop", "decided_by", "updated_at")
        read_only_fields = fields


class ProductSerializer(serializers.ModelSerializer):
    """A product (a set of offers of different shops that are the same item), by stable key."""

    key = serializers.CharField(help_text="stable product key (kept as the product grows)")
    aliases = serializers.SlugRelatedField(
        many=True,
        read_only=True,
        slug_field="key",
        help_text="keys of products merged into this one (they resolve to it)",
    )
    updated_at = serializers.DateTimeField(
        allow_null=True,
        help_text="latest membership change: an offer joined, moved in, was confirmed by "
        "validators, or left",
    )
    offers = ProductOfferSerializer(
        source="members", many=True, help_text="one offer per shop, by shop then offer id"
    )

    class Meta:
        model = Product
        fields = ("key", "aliases", "created_at", "updated_at", "offers")
        read_only_fields = fields


class ProductDetailSerializer(ProductSerializer):
    """A product looked up by key; a merged product's key answers with the surviving product."""

    requested_key = serializers.CharField(help_text="the key in the URL")
    alias_of = serializers.SerializerMethodField(
        help_text="the surviving product's key (= key) when the requested key names a product "
        "merged into it; null when the requested key is the product's own"
    )

    class Meta(ProductSerializer.Meta):
        fields = ("key", "requested_key", "alias_of", *ProductSerializer.Meta.fields[1:])
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_alias_of(self, product: Product) -> str | None:
        return product.key if product.requested_key != product.key else None
