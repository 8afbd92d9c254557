"""Tables of the machine side: catalogue, embedding store, projection models, match runs."""

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


class Encoder(models.Model):
    """A frozen encoder identified by its spec and the checksum of its weights."""

    class Kind(models.TextChoices):
        IMAGE = "image"
        TEXT = "text"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    spec = models.CharField(max_length=500)
    weights_checksum = models.CharField(max_length=64)
    dim = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "spec", "weights_checksum"], name="encoder_unique_weights"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.spec} ({self.weights_checksum[:8]})"


class EmbeddingChunk(models.Model):
    """A float16 .npy file (memory-mappable) holding raw embeddings of many offers."""

    encoder = models.ForeignKey(Encoder, on_delete=models.CASCADE, related_name="chunks")
    path = models.CharField(max_length=500, help_text="relative to MEDIA_ROOT")
    n_rows = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.path


class OfferEmbedding(models.Model):
    """Where an offer's raw embedding for one encoder lives (chunk file + row)."""

    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="embeddings")
    encoder = models.ForeignKey(Encoder, on_delete=models.CASCADE, related_name="embeddings")
    chunk = models.ForeignKey(EmbeddingChunk, on_delete=models.CASCADE, related_name="rows")
    row = models.PositiveIntegerField()
    content_hash = models.CharField(max_length=64)
    has_content = models.BooleanField(
        default=True, help_text="false for an image embedding of an offer without images"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["offer", "encoder"], name="embedding_unique")
        ]

    def __str__(self) -> str:
        return f"{self.offer_id} @ {self.encoder_id}: {self.chunk_id}[{self.row}]"


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
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name or f"projection #{self.pk} ({self.features})"


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
