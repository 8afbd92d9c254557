"""The embedding store: encoders, embedding chunk files and the offers they hold."""

from __future__ import annotations

from django.db import models

from matching.models.catalogue import Offer


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
