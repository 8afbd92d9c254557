"""Catalogue tables: shops, import batches, offers and their images."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Shop(models.Model):
    """A shop (domain) whose offers are matched against other shops."""

    name = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    synthetic = models.BooleanField(
        default=False,
        help_text="generated data (set by whoever imports it: the demo); the UI says so",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ImportBatch(models.Model):
    """One run of the catalogue import, with its counts and per-line errors."""

    class Status(models.TextChoices):
        RUNNING = "running"
        DONE = "done"
        DONE_WITH_ERRORS = "done_with_errors", "done with rejected rows"
        FAILED = "failed"
        INTERRUPTED = "interrupted", "interrupted (the import process died)"

    source = models.CharField(max_length=1000)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    n_rows = models.PositiveIntegerField(default=0)
    n_imported = models.PositiveIntegerField(default=0)
    n_updated = models.PositiveIntegerField(default=0)
    n_unchanged = models.PositiveIntegerField(default=0)
    n_rejected = models.PositiveIntegerField(default=0)
    n_images = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0.0)
    # [{"file": "offers.csv", "line": 12, "offer_id": "...", "reason": "..."}]
    errors = models.JSONField(default=list, blank=True)
    # Who runs it, and when it last committed a chunk: a "running" batch whose process is gone
    # (or that made no progress for long) is shown as interrupted.
    host = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name_plural = "import batches"

    def __str__(self) -> str:
        return f"import #{self.pk} of {self.source}"

    @property
    def rows_per_second(self) -> float:
        return self.n_rows / self.seconds if self.seconds else 0.0


class Offer(models.Model):
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="offers")
    offer_id = models.CharField(max_length=200)
    brand = models.CharField(max_length=200, blank=True)
    # the blocking key of `brand` (matching.ml.retrieval.brand_key), computed at import
    brand_normalised = models.CharField(max_length=200, blank=True, db_index=True)
    title = models.CharField(max_length=1000)
    text_normalised = models.CharField(max_length=1300)
    price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    sizes = models.JSONField(default=list, blank=True)
    category = models.CharField(max_length=200, blank=True, db_index=True)
    created_at = models.DateField(null=True, blank=True, db_index=True)
    product_id = models.CharField(max_length=200, null=True, blank=True, db_index=True)  # noqa: DJ001 (NULL = unknown)
    import_batch = models.ForeignKey(
        ImportBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="offers"
    )
    # sha256 over everything the encoders read (text, numbers, image checksums): embeddings
    # are recomputed only for offers whose content hash changed.
    content_hash = models.CharField(max_length=64, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["shop_id", "offer_id"]
        constraints = [
            models.UniqueConstraint(fields=["shop", "offer_id"], name="offer_unique_per_shop")
        ]
        indexes = [models.Index(fields=["shop", "created_at"])]

    def __str__(self) -> str:
        return f"{self.shop.name}:{self.offer_id}"


class OfferImage(models.Model):
    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="images")
    position = models.PositiveSmallIntegerField()
    source_path = models.CharField(max_length=1000, help_text="path in the imported catalogue")
    original = models.FileField(max_length=500)
    preprocessed = models.FileField(max_length=500, help_text="cropped and resized to 254x367")
    checksum = models.CharField(max_length=64, help_text="sha256 of the original file")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()

    class Meta:
        ordering = ["offer_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["offer", "position"], name="image_unique_position")
        ]

    def __str__(self) -> str:
        return f"{self.offer} image {self.position}"
