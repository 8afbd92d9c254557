"""Encoding: encoder rows and their models, planning and encoding chunks of offers.

Incremental: only offers without a current embedding (new, or content hash changed) for an
encoder are encoded, ``chunk_size`` offers per chunk file of the embedding store.
"""

from __future__ import annotations

import functools
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings

from matching import embedding_store as store
from matching import selectors
from matching.ml.encoders import DEFAULT_IMAGE_ENCODER, DEFAULT_TEXT_ENCODER
from matching.models import Encoder, Offer, OfferImage

DEFAULT_CHUNK_SIZE = 2048

Progress = Callable[[int, int, str], None]


@functools.lru_cache(maxsize=4)
def load_encoder_model(kind: str, spec: str, device: str | None = None):
    """The frozen model of a spec, built once per process (workers reuse it across jobs)."""
    from matching.ml.encoders import create_image_encoder, create_text_encoder

    create = create_image_encoder if kind == Encoder.Kind.IMAGE else create_text_encoder
    return create(spec, device=device)


def encoder_row(kind: str, spec: str, *, device: str | None = None) -> tuple[Encoder, Any]:
    """(Encoder row, model) for a spec; builds the model to learn its weights checksum."""
    model = load_encoder_model(kind, spec, device)
    row = store.get_or_create_encoder(
        kind=kind, spec=spec, weights_checksum=model.weights_checksum, dim=model.dim
    )
    return row, model


@dataclass
class EncodeStats:
    encoder: Encoder
    n_offers: int = 0
    n_pending: int = 0
    n_encoded: int = 0
    n_from_cache: int = 0
    n_chunks: int = 0
    seconds: float = 0.0


def _specs(image_spec: str | None, text_spec: str | None) -> list[tuple[str, str]]:
    out = []
    if image_spec:
        out.append((Encoder.Kind.IMAGE.value, image_spec))
    if text_spec:
        out.append((Encoder.Kind.TEXT.value, text_spec))
    return out


def chunks(items: Sequence, size: int) -> Iterable[Sequence]:
    """``items`` in consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def plan_encoding(
    *,
    shops=None,
    offers=None,
    image_spec: str | None = DEFAULT_IMAGE_ENCODER,
    text_spec: str | None = DEFAULT_TEXT_ENCODER,
    device: str | None = None,
) -> list[tuple[Encoder, list[int], int]]:
    """Per encoder: (Encoder row, pks of offers needing encoding, number of offers considered)."""
    qs = offers if offers is not None else selectors.offers_for(shops=shops)
    plan = []
    for kind, spec in _specs(image_spec, text_spec):
        encoder, _ = encoder_row(kind, spec, device=device)
        pending = list(
            store.pending_offers(encoder=encoder, offers=qs)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        plan.append((encoder, pending, qs.count()))
    return plan


def encode_offers(
    *,
    shops=None,
    offers=None,
    image_spec: str | None = DEFAULT_IMAGE_ENCODER,
    text_spec: str | None = DEFAULT_TEXT_ENCODER,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: Progress | None = None,
    cache_dir: str | Path | None = None,
    num_workers: int | None = None,
    device: str | None = None,
) -> list[EncodeStats]:
    """Encode the offers (of ``shops``, or the ``offers`` queryset, or all) that need it.

    ``progress(done, total, stage)`` counts offers per encoder. Returns one ``EncodeStats`` per
    encoder.
    """
    results = []
    for encoder, pending, n_offers in plan_encoding(
        shops=shops, offers=offers, image_spec=image_spec, text_spec=text_spec, device=device
    ):
        stats = EncodeStats(encoder=encoder, n_offers=n_offers, n_pending=len(pending))
        started = time.perf_counter()
        done = 0
        if progress:
            progress(0, len(pending), f"{encoder.kind} {encoder.spec}")
        for chunk in chunks(pending, chunk_size):
            encoded, cached = encode_chunk(
                encoder=encoder,
                offer_pks=chunk,
                cache_dir=cache_dir,
                num_workers=num_workers,
                device=device,
            )
            stats.n_encoded += encoded
            stats.n_from_cache += cached
            stats.n_chunks += 1
            done += len(chunk)
            if progress:
                progress(done, len(pending), f"{encoder.kind} {encoder.spec}")
        stats.seconds = time.perf_counter() - started
        results.append(stats)
    return results


def _default_workers() -> int:
    return settings.FASHIONID_ENCODE_WORKERS


def encode_chunk(
    *,
    encoder: Encoder,
    offer_pks: Sequence[int],
    cache_dir: str | Path | None = None,
    num_workers: int | None = None,
    device: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """Encode one chunk of offers with ``encoder`` and store it; returns (encoded, from cache).

    Offers that another worker encoded meanwhile are skipped. The model is built from the spec
    and must have the encoder row's weights checksum.
    """
    rows = list(
        store.pending_offers(encoder=encoder, offers=Offer.objects.filter(pk__in=list(offer_pks)))
        .order_by("pk")
        .values_list("pk", "content_hash", "text_normalised")
    )
    if not rows:
        return 0, 0
    pks = [r[0] for r in rows]
    hashes = [r[1] for r in rows]
    vectors = np.zeros((len(rows), encoder.dim), dtype=np.float32)
    has_content = np.zeros(len(rows), dtype=bool)
    cached = store.cache_lookup(cache_dir, encoder, hashes) if cache_dir else {}
    todo = [i for i, h in enumerate(hashes) if h not in cached]
    for i, h in enumerate(hashes):
        if h in cached:
            vectors[i], has_content[i] = cached[h]
    if todo:
        model = load_encoder_model(encoder.kind, encoder.spec, device)
        if model.weights_checksum != encoder.weights_checksum or model.dim != encoder.dim:
            raise RuntimeError(
                f"{encoder}: the weights here have checksum {model.weights_checksum[:12]}, not "
                f"{encoder.weights_checksum[:12]}; every worker needs the same weights"
            )
        if encoder.kind == Encoder.Kind.IMAGE:
            new, ok = _encode_images(
                model, [pks[i] for i in todo], num_workers=num_workers, progress=progress
            )
        else:
            texts = [rows[i][2] for i in todo]
            new = model.encode_texts(texts)
            ok = np.array([bool(t.strip()) for t in texts], dtype=bool)
            new[~ok] = 0.0
        vectors[todo] = new
        has_content[todo] = ok
        if cache_dir:
            store.cache_store(cache_dir, encoder, [hashes[i] for i in todo], new, ok)
    store.write_chunk(
        encoder=encoder,
        offer_pks=pks,
        content_hashes=hashes,
        vectors=vectors,
        has_content=has_content,
    )
    return len(todo), len(rows) - len(todo)


def _encode_images(
    model, offer_pks: Sequence[int], *, num_workers: int | None, progress=None
) -> tuple[np.ndarray, np.ndarray]:
    paths: dict[int, list[str]] = defaultdict(list)
    media = Path(settings.MEDIA_ROOT)
    for offer_pk, name in (
        OfferImage.objects.filter(offer_id__in=list(offer_pks))
        .order_by("offer_id", "position")
        .values_list("offer_id", "preprocessed")
    ):
        if name:
            paths[offer_pk].append(str(media / name))
    per_offer = [paths.get(pk, []) for pk in offer_pks]
    workers = _default_workers() if num_workers is None else num_workers
    if sum(len(p) for p in per_offer) < 64:
        workers = 0  # not worth starting loader processes
    return model.encode_offer_images(per_offer, num_workers=workers, progress=progress)
