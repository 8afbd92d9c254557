"""Read-only representations of the API: matches (and their query filters)."""

from __future__ import annotations

from rest_framework import serializers

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
