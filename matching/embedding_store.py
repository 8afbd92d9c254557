"""The embedding store: raw encoder outputs as float16 .npy chunk files, indexed in the database.

Layout: ``MEDIA_ROOT/embeddings/<encoder id>/<chunk uuid>.npy``, one (n_rows, dim) float16
array per chunk, readable with ``np.load(..., mmap_mode="r")``. Every offer's vector is located
by an ``OfferEmbedding`` row (encoder, chunk, row, content_hash, has_content); an encoder is
identified by (kind, spec, weights checksum), so new weights never mix with old vectors.

Incremental: an offer is (re-)encoded only when it has no row for that encoder or the row's
content hash differs from ``Offer.content_hash``. Re-encoding writes a new chunk and repoints
the rows (upsert); a chunk nobody points at any more is then removed with its file
(``prune_chunks``).

An optional on-disk *embedding cache* (``cache_lookup`` / ``cache_store``) keyed by
(encoder spec, weights checksum, offer content hash) lets throw-away databases, e.g. the
benchmark's, reuse vectors computed in an earlier run.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, QuerySet

from matching.ml import embedding_cache
from matching.models import EmbeddingChunk, Encoder, Offer, OfferEmbedding


class MissingEmbeddings(LookupError):
    """Some offers have no current embedding for an encoder (run `manage.py encode`)."""

    def __init__(self, encoder: Encoder, offer_pks: Sequence[int]):
        self.encoder = encoder
        self.offer_pks = list(offer_pks)
        super().__init__(
            f"{len(self.offer_pks)} offer(s) have no current {encoder.kind} embedding for "
            f"{encoder.spec!r} (first: {self.offer_pks[:5]}); run `python manage.py encode`"
        )


class EncoderNotFound(LookupError):
    """No Encoder row for a spec yet (nothing encoded with it)."""


def media_root() -> Path:
    return Path(settings.MEDIA_ROOT)


# ------------------------------------------------------------------------------------------
# encoders


def get_or_create_encoder(*, kind: str, spec: str, weights_checksum: str, dim: int) -> Encoder:
    """The Encoder row of these weights (created once; safe under concurrent workers)."""
    lookup = {"kind": kind, "spec": spec, "weights_checksum": weights_checksum}
    encoder = Encoder.objects.filter(**lookup).first()
    if encoder is not None:
        if encoder.dim != dim:
            raise ValueError(f"{encoder}: stored dim {encoder.dim} != {dim}")
        return encoder
    try:
        with transaction.atomic():
            return Encoder.objects.create(dim=dim, **lookup)
    except IntegrityError:
        return Encoder.objects.get(**lookup)


def find_encoder(*, kind: str, spec: str) -> Encoder | None:
    """The newest Encoder row for a spec (whatever its checksum), or None."""
    return Encoder.objects.filter(kind=kind, spec=spec).order_by("-created_at", "-id").first()


# ------------------------------------------------------------------------------------------
# what needs encoding


def pending_offers(*, encoder: Encoder, offers: QuerySet[Offer]) -> QuerySet[Offer]:
    """Offers without a current embedding (missing, or made from an older content hash)."""
    current = OfferEmbedding.objects.filter(
        offer=OuterRef("pk"), encoder=encoder, content_hash=OuterRef("content_hash")
    )
    return offers.filter(~Exists(current))


# ------------------------------------------------------------------------------------------
# writing


def _write_npy_atomic(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.{time.monotonic_ns()}.tmp.npy")
    np.save(temporary, array)
    temporary.replace(path)


def write_chunk(
    *,
    encoder: Encoder,
    offer_pks: Sequence[int],
    content_hashes: Sequence[str],
    vectors: np.ndarray,
    has_content: Sequence[bool],
) -> EmbeddingChunk:
    """Store vectors (n, dim) of these offers as one float16 chunk and point their rows at it."""
    vectors = np.asarray(vectors, dtype=np.float32)
    n = len(offer_pks)
    if vectors.shape != (n, encoder.dim) or len(content_hashes) != n or len(has_content) != n:
        raise ValueError(f"expected {n} rows of dim {encoder.dim}, got {vectors.shape}")
    relative = f"embeddings/{encoder.pk}/{uuid.uuid4().hex}.npy"
    _write_npy_atomic(media_root() / relative, vectors.astype(np.float16))
    with transaction.atomic():
        replaced = set(
            OfferEmbedding.objects.filter(encoder=encoder, offer_id__in=list(offer_pks))
            .values_list("chunk_id", flat=True)
            .distinct()
        )
        chunk = EmbeddingChunk.objects.create(encoder=encoder, path=relative, n_rows=n)
        OfferEmbedding.objects.bulk_create(
            [
                OfferEmbedding(
                    offer_id=pk,
                    encoder=encoder,
                    chunk=chunk,
                    row=row,
                    content_hash=h,
                    has_content=bool(ok),
                )
                for row, (pk, h, ok) in enumerate(
                    zip(offer_pks, content_hashes, has_content, strict=True)
                )
            ],
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["offer", "encoder"],
            update_fields=["chunk", "row", "content_hash", "has_content"],
        )
    if replaced:
        prune_chunks(encoder, chunk_ids=replaced)
    return chunk


def prune_chunks(encoder: Encoder | None = None, *, chunk_ids: Iterable[int] | None = None) -> int:
    """Delete chunk rows and files no OfferEmbedding points at any more; returns how many.

    ``write_chunk`` calls it for the chunks whose rows it repointed; without ``chunk_ids`` it
    sweeps every chunk (of ``encoder``).
    """
    chunks = EmbeddingChunk.objects.filter(
        ~Exists(OfferEmbedding.objects.filter(chunk=OuterRef("pk")))
    )
    if encoder is not None:
        chunks = chunks.filter(encoder=encoder)
    if chunk_ids is not None:
        chunks = chunks.filter(pk__in=list(chunk_ids))
    removed = 0
    for chunk in chunks:
        (media_root() / chunk.path).unlink(missing_ok=True)
        chunk.delete()
        removed += 1
    return removed


# ------------------------------------------------------------------------------------------
# reading


def _offer_keys(offers: Iterable[Offer] | QuerySet[Offer]) -> tuple[list[int], list[str]]:
    if isinstance(offers, QuerySet):
        rows = list(offers.values_list("pk", "content_hash"))
    else:
        rows = [(o.pk, o.content_hash) for o in offers]
    return [r[0] for r in rows], [r[1] for r in rows]


#: read a pk range instead of IN lists when the offers fill at least this share of it
RANGE_DENSITY = 0.5
IN_BATCH = 20_000  # stay below SQL parameter limits


def _embedding_rows(encoder: Encoder, pks: Sequence[int]) -> Iterable[QuerySet]:
    """(offer_id, chunk_id, chunk path, row, content_hash, has_content) querysets covering the
    rows of ``pks`` (possibly with others): one pk-range query when the offers are dense in
    their pk range (a shop's offers usually are; no 10^5-parameter statements to render),
    else IN lists of IN_BATCH pks."""
    columns = ("offer_id", "chunk_id", "chunk__path", "row", "content_hash", "has_content")
    rows = OfferEmbedding.objects.filter(encoder=encoder)
    if not pks:
        return []
    low, high = min(pks), max(pks)
    if len(pks) >= RANGE_DENSITY * (high - low + 1):
        return [rows.filter(offer_id__gte=low, offer_id__lte=high).values_list(*columns)]
    return [
        rows.filter(offer_id__in=pks[start : start + IN_BATCH]).values_list(*columns)
        for start in range(0, len(pks), IN_BATCH)
    ]


def load_embeddings(
    *,
    offers: Iterable[Offer] | QuerySet[Offer],
    encoder: Encoder,
    with_mask: bool = False,
    require_current: bool = True,
    out: np.ndarray | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Raw vectors (n, dim) float32 in the order of ``offers``; reads grouped per chunk file.

    ``with_mask`` also returns ``has_content`` (n,) bool. Raises ``MissingEmbeddings`` when an
    offer has no embedding, or (``require_current``) one made from an older content hash.
    ``out``: an (n, dim) float32 array (a column slice of a larger one, say) to write the
    vectors into and return, instead of a new one.
    """
    pks, hashes = _offer_keys(offers)
    position = {pk: i for i, pk in enumerate(pks)}
    if out is None:
        out = np.zeros((len(pks), encoder.dim), dtype=np.float32)
    elif out.shape != (len(pks), encoder.dim) or out.dtype != np.float32:
        raise ValueError(
            f"out must be float32 of shape {(len(pks), encoder.dim)}, got {out.dtype} {out.shape}"
        )
    mask = np.zeros(len(pks), dtype=bool)
    found = np.zeros(len(pks), dtype=bool)
    by_chunk: dict[int, list[tuple[int, int]]] = defaultdict(list)
    paths: dict[int, str] = {}
    stale: list[int] = []
    for rows in _embedding_rows(encoder, pks):
        for offer_pk, chunk_pk, path, row, content_hash, has_content in rows:
            i = position.get(offer_pk)
            if i is None:  # another offer inside the pk range read
                continue
            if require_current and content_hash != hashes[i]:
                stale.append(offer_pk)
                continue
            by_chunk[chunk_pk].append((i, row))
            paths[chunk_pk] = path
            mask[i] = has_content
            found[i] = True
    missing = [pks[i] for i in np.flatnonzero(~found)]
    if missing:
        raise MissingEmbeddings(encoder, missing)
    for chunk_pk, pairs in by_chunk.items():
        data = np.load(media_root() / paths[chunk_pk], mmap_mode="r")
        targets = np.fromiter((p[0] for p in pairs), dtype=np.int64, count=len(pairs))
        sources = np.fromiter((p[1] for p in pairs), dtype=np.int64, count=len(pairs))
        order = np.argsort(sources)  # sequential reads through the memory map
        out[targets[order]] = data[sources[order]].astype(np.float32)
    return (out, mask) if with_mask else out


# ------------------------------------------------------------------------------------------
# the cross-database cache (used by the benchmark)


def _cached_encoder(encoder: Encoder) -> embedding_cache.CachedEncoder:
    return embedding_cache.CachedEncoder(
        kind=encoder.kind,
        spec=encoder.spec,
        weights_checksum=encoder.weights_checksum,
        dim=encoder.dim,
    )


def _cache_folder(cache_dir: Path | str, encoder: Encoder) -> Path:
    return embedding_cache.folder_for(
        cache_dir, kind=encoder.kind, spec=encoder.spec, weights_checksum=encoder.weights_checksum
    )


def cache_lookup(
    cache_dir: Path | str, encoder: Encoder, content_hashes: Sequence[str]
) -> dict[str, tuple[np.ndarray, bool]]:
    """content hash -> (vector float32, has_content) for the hashes found in the cache."""
    return embedding_cache.lookup([_cache_folder(cache_dir, encoder)], content_hashes)


def cache_store(
    cache_dir: Path | str,
    encoder: Encoder,
    content_hashes: Sequence[str],
    vectors: np.ndarray,
    has_content: Sequence[bool],
) -> None:
    embedding_cache.store(
        _cache_folder(cache_dir, encoder),
        _cached_encoder(encoder),
        content_hashes,
        vectors,
        has_content,
    )
