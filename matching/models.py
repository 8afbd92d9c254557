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


# ----------------------------------------------------------------- the loop: verdicts, products
#
# The matching output that outlives a run: every decided pair of offers (PairVerdict) and the
# products that accepted pairs build (Product, ProductMembership, ProductEvent, ProductConflict).
# Pure rules: matching/verdicts.py and matching/products.py; writes: matching/services/loop.py.


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
    """An accepted pair (or a rejection) that products could not absorb: shown to admins."""

    class Status(models.TextChoices):
        OPEN = "open"
        RESOLVED = "resolved"

    verdict = models.ForeignKey(PairVerdict, on_delete=models.CASCADE, related_name="conflicts")
    reason = models.CharField(max_length=500)
    offer_ids = models.JSONField(help_text="pks of the offers involved")
    product_keys = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"conflict #{self.pk}: {self.reason}"
