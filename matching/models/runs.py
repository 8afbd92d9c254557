"""Trained projection models, match runs and the candidates they found."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from matching.models.catalogue import Offer, Shop
from matching.models.embeddings import Encoder


class ProjectionModel(models.Model):
    """A trained projection head (weights file + config + metrics + which data)."""

    class Status(models.TextChoices):
        TRAINING = "training"
        READY = "ready"
        FAILED = "failed"

    name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.TRAINING)
    features = models.CharField(max_length=100, help_text="e.g. image+text+numeric")
    image_encoder = models.ForeignKey(
        Encoder, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    text_encoder = models.ForeignKey(
        Encoder, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    train_shops = models.ManyToManyField(Shop, related_name="+", blank=True)
    trained_before = models.DateField(null=True, blank=True)
    n_train_offers = models.PositiveIntegerField(default=0)
    n_train_products = models.PositiveIntegerField(default=0)
    config = models.JSONField(default=dict, blank=True)
    numeric_scaler = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    history = models.JSONField(default=list, blank=True)
    calibration = models.JSONField(
        default=dict,
        blank=True,
        help_text="held-out calibration of the scores (matching/ml/calibration.py); empty: none",
    )
    weights_path = models.CharField(max_length=500, blank=True, help_text="relative to MEDIA_ROOT")
    discriminator_path = models.CharField(
        max_length=500,
        blank=True,
        help_text="pair discriminator (matching/ml/discriminator.py), relative to MEDIA_ROOT; "
        "empty: none",
    )
    discriminator = models.JSONField(
        default=dict, blank=True, help_text="what the pair discriminator was fitted on"
    )
    label_sources = models.JSONField(
        default=dict,
        blank=True,
        help_text="which labels trained it and how many each gave "
        "(matching/services/training_labels.py); empty: product ids (before issue 12)",
    )
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name or f"projection #{self.pk} ({self.features})"

    @property
    def labels_summary(self) -> str:
        """One line for pages: the sources and what they gave, e.g. "verdicts: 40 accepted
        pairs, 75 rejected pairs, 12 cluster offers (gold accuracy >= 0.9)"."""
        info = self.label_sources or {}
        sources = info.get("sources") or ["product_ids"]
        parts = []
        if "product_ids" in sources:
            n = info.get("product_id_offers")
            parts.append("product ids" + (f": {n} offers" if n is not None else ""))
        if "verdicts" in sources:
            text = (
                f"verdicts: {info.get('accepted_pairs', 0)} accepted pairs, "
                f"{info.get('rejected_pairs', 0)} rejected pairs, "
                f"{info.get('cluster_offers', 0)} cluster offers"
            )
            if info.get("min_gold_accuracy") is not None:
                text += f" (gold accuracy >= {info['min_gold_accuracy']:g})"
            parts.append(text)
        return "; ".join(parts)


class MatchRun(models.Model):
    """Retrieval of each query-shop offer's top-k neighbours in the index shop."""

    class Status(models.TextChoices):
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    query_shop = models.ForeignKey(Shop, on_delete=models.PROTECT, related_name="+")
    index_shop = models.ForeignKey(Shop, on_delete=models.PROTECT, related_name="+")
    since = models.DateField(null=True, blank=True)
    model = models.ForeignKey(
        ProjectionModel,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        help_text="empty: raw embeddings",
    )
    features = models.CharField(max_length=100)
    k = models.PositiveSmallIntegerField(default=3)
    brand_threshold = models.FloatField(null=True, blank=True, help_text="empty: no blocking")
    index_type = models.CharField(max_length=10, default="flat")
    # MatchConfig.resolved(features).to_dict(): every scoring parameter of the run
    config = models.JSONField(default=dict, blank=True)
    # who computes the run (stale-run check): host name and process id while running
    worker_host = models.CharField(max_length=255, blank=True)
    worker_pid = models.PositiveIntegerField(null=True, blank=True)
    n_queries = models.PositiveIntegerField(default=0)
    n_index = models.PositiveIntegerField(default=0)
    # R@k, AUCPR, best F1, blocking recall, comparisons, per-category AUCPR, timings ...
    metrics = models.JSONField(default=dict, blank=True)
    # {"precision": [...], "recall": [...], "thresholds": [...]} at k=1
    pr_curve = models.JSONField(default=dict, blank=True)
    plot_path = models.CharField(max_length=500, blank=True, help_text="relative to MEDIA_ROOT")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"run #{self.pk}: {self.query_shop} → {self.index_shop}"


class Candidate(models.Model):
    run = models.ForeignKey(MatchRun, on_delete=models.CASCADE, related_name="candidates")
    query_offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="+")
    candidate_offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="+")
    rank = models.PositiveSmallIntegerField(help_text="1 = nearest")
    similarity = models.FloatField()

    class Meta:
        ordering = ["run_id", "query_offer_id", "rank"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "query_offer", "rank"], name="candidate_unique_rank"
            )
        ]
        indexes = [models.Index(fields=["run", "rank", "similarity"])]

    def __str__(self) -> str:
        return f"run {self.run_id}: {self.query_offer_id} #{self.rank} {self.candidate_offer_id}"


# ----------------------------------------------------------------- the loop: verdicts, products
#
# The matching output that outlives a run: every decided pair of offers (PairVerdict) and the
# products that accepted pairs build (Product, ProductMembership, ProductEvent, ProductConflict).
# Pure rules: matching/verdicts.py and matching/products.py; writes: matching/services/loop.py.
