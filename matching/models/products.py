"""What was decided across runs: pair verdicts and the product clusters they build."""

from __future__ import annotations

from django.db import models

from matching.models.catalogue import Offer, Shop
from matching.models.runs import MatchRun


class PairVerdict(models.Model):
    """One decision on a pair (query offer, candidate offer), kept across runs.

    Valid while both offers keep the content hashes stored here (matching.verdicts.is_valid);
    among the valid verdicts of a pair, human beats auto and newer beats older.
    """

    class Verdict(models.TextChoices):
        ACCEPTED = "accepted"
        REJECTED = "rejected"

    class Source(models.TextChoices):
        AUTO = "auto"
        HUMAN = "human"

    query_offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="+")
    candidate_offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="+")
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    source = models.CharField(max_length=10, choices=Source.choices)
    run = models.ForeignKey(
        MatchRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="verdicts"
    )
    # validation's ReviewRow (matching does not import validation: a plain id)
    review_row_id = models.PositiveIntegerField(null=True, blank=True, db_index=True)
    votes_for = models.PositiveSmallIntegerField(default=0)
    votes_total = models.PositiveSmallIntegerField(default=0)
    similarity = models.FloatField(null=True, blank=True)
    query_hash = models.CharField(max_length=64, blank=True)
    candidate_hash = models.CharField(max_length=64, blank=True)
    decided_at = models.DateTimeField()
    # an automatic acceptance overridden by a human acceptance it conflicted with: it now counts
    # as an implicit human rejection of its pair (matching.verdicts.implicit_rejection); undoing
    # the human verdict restores it (services/loop.py)
    superseded_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="supersedes"
    )
    superseded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-decided_at", "-id"]
        indexes = [
            models.Index(fields=["query_offer", "candidate_offer"]),
            models.Index(fields=["run", "source"]),
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.verdict}: {self.query_offer_id} ~ {self.candidate_offer_id}"


class Product(models.Model):
    """A set of offers of different shops that are the same product; ``key`` never changes."""

    key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField()
    alias_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="aliases",
        help_text="merged into this product (its key now names that product)",
    )

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.key


class ProductMembership(models.Model):
    """Offer -> product: each offer in at most one product, one offer per shop per product."""

    offer = models.OneToOneField(Offer, on_delete=models.CASCADE, related_name="membership")
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="members")
    decided_by = models.CharField(max_length=10, choices=PairVerdict.Source.choices)
    joined_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["product_id", "shop_id"]
        constraints = [
            models.UniqueConstraint(fields=["product", "shop"], name="product_one_offer_per_shop")
        ]
        indexes = [models.Index(fields=["updated_at"])]

    def __str__(self) -> str:
        return f"{self.offer_id} in {self.product_id}"


class ProductEvent(models.Model):
    """Every change of a product: when, why, which verdict."""

    class Kind(models.TextChoices):
        CREATED = "created"
        GROWN = "grown"
        MERGED = "merged"
        SPLIT = "split"
        SHRUNK = "shrunk", "offer left"
        CONFLICT = "conflict"

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    at = models.DateTimeField()
    reason = models.CharField(max_length=500)
    verdict = models.ForeignKey(
        PairVerdict, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.product_id} at {self.at:%Y-%m-%d %H:%M}"


class ProductConflict(models.Model):
    """An accepted pair (or a rejection) that products could not absorb.

    With a question (``query_offer`` and the competing ``candidate_ids``) validation puts it in
    the review queue as a conflict row; its decision resolves it (services/conflicts.py).
    Without one it is for admins (Django admin, *Product conflicts*)."""

    class Status(models.TextChoices):
        OPEN = "open"
        RESOLVED = "resolved"

    verdict = models.ForeignKey(PairVerdict, on_delete=models.CASCADE, related_name="conflicts")
    reason = models.CharField(max_length=500)
    offer_ids = models.JSONField(help_text="pks of the offers involved")
    product_keys = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField()
    query_offer = models.ForeignKey(
        Offer,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="the offer the question is about (empty: admins only, no review row)",
    )
    candidate_ids = models.JSONField(
        default=list, blank=True, help_text="the offers competing for the query offer (pks)"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    # validation's ReviewRow that decided it (matching does not import validation: a plain id)
    resolved_by_row_id = models.PositiveIntegerField(null=True, blank=True)
    resolution = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status"])]

    def __str__(self) -> str:
        return f"conflict #{self.pk}: {self.reason}"
