"""Writes of the matching engine: encode offers, train a projection, match two shops.

These functions call the plain library `matching.ml` and store the results (embedding store,
ProjectionModel, MatchRun + Candidate rows, plots under MEDIA_ROOT). Commands and RQ jobs are
thin wrappers around them.

Feature vectors (both for training and for matching):

* ``image``: mean of the offer's L2-normalised image embeddings (zero for an offer without
  images), ``text``: the embedding of ``Offer.text_normalised``, ``numeric``:
  ``[n_sizes, log n_sizes, log price]`` imputed and standardised by a ``NumericScaler`` plus two
  missing-value flags.
* a trained model: ``assemble_features`` (blocks L2-normalised, numeric / sqrt(5)) -> head.
* ``raw`` (no model): the same concatenation, L2-normalised again. The numeric scaler of a raw
  run is fitted on the run's own query + index offers (no labels are read).
"""

from __future__ import annotations

import functools
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction

from matching import embedding_store as store
from matching import selectors
from matching.ml import features as ml_features
from matching.ml import metrics as ml_metrics
from matching.ml import projection as ml_projection
from matching.ml import retrieval as ml_retrieval
from matching.ml import training as ml_training
from matching.ml.encoders import DEFAULT_IMAGE_ENCODER, DEFAULT_TEXT_ENCODER
from matching.models import (
    Candidate,
    Encoder,
    MatchRun,
    Offer,
    OfferImage,
    ProjectionModel,
    Shop,
)

FEATURE_BLOCKS = ml_projection.FEATURE_BLOCKS
DEFAULT_FEATURES = ("image", "text", "numeric")
DEFAULT_CHUNK_SIZE = 2048
# rapidfuzz token_set_ratio on brand keys (0-100); chosen on fashion-xshop-dev, see BENCHMARKS.md
DEFAULT_BRAND_THRESHOLD = 80.0
MAX_PR_POINTS = 2000
PLOTTED_CATEGORIES = 5

Progress = Callable[[int, int, str], None]


def parse_features(value: str | Sequence[str] | None, default=DEFAULT_FEATURES) -> tuple[str, ...]:
    """ "image+text" / "image,text" / ["image", "text"] -> canonical ordered tuple."""
    if value is None or value == "":
        return tuple(default)
    items = value.replace("+", ",").split(",") if isinstance(value, str) else list(value)
    chosen = {item.strip() for item in items if item.strip()}
    unknown = chosen - set(FEATURE_BLOCKS)
    if unknown or not chosen:
        raise ValueError(f"features must be among {', '.join(FEATURE_BLOCKS)}; got {value!r}")
    return tuple(b for b in FEATURE_BLOCKS if b in chosen)


def features_name(features: Sequence[str]) -> str:
    return "+".join(features)


# ==========================================================================================
# encoding


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


def _chunks(items: Sequence, size: int) -> Iterable[Sequence]:
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

    Incremental: only offers without a current embedding (new, or content hash changed) for the
    encoder are encoded, ``chunk_size`` offers per chunk file. ``progress(done, total, stage)``
    counts offers per encoder. Returns one ``EncodeStats`` per encoder.
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
        for chunk in _chunks(pending, chunk_size):
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


# ==========================================================================================
# feature matrices


@dataclass
class Blocks:
    """Raw feature blocks of a list of offers, in its order."""

    image: np.ndarray | None = None
    text: np.ndarray | None = None
    numeric_raw: np.ndarray | None = None
    has_image: np.ndarray | None = None


def _offer_rows(qs) -> list[Offer]:
    return list(
        qs.only(
            "pk",
            "content_hash",
            "brand",
            "category",
            "product_id",
            "price",
            "sizes",
            "shop_id",
            "text_normalised",
        )
    )


def _load_blocks(
    offers: list[Offer],
    features: Sequence[str],
    *,
    image_encoder: Encoder | None,
    text_encoder: Encoder | None,
) -> Blocks:
    blocks = Blocks()
    if "image" in features:
        if image_encoder is None:
            raise ValueError("image features need an image encoder (run `manage.py encode`)")
        blocks.image, blocks.has_image = store.load_embeddings(
            offers=offers, encoder=image_encoder, with_mask=True
        )
    if "text" in features:
        if text_encoder is None:
            raise ValueError("text features need a text encoder (run `manage.py encode`)")
        blocks.text = store.load_embeddings(offers=offers, encoder=text_encoder)
    if "numeric" in features:
        blocks.numeric_raw = numeric_raw(offers)
    return blocks


def numeric_raw(offers: Sequence[Offer]) -> np.ndarray:
    rows = [
        ml_features.numeric_vector(
            sizes=o.sizes or None, price=float(o.price) if o.price is not None else None
        )
        for o in offers
    ]
    return np.stack(rows) if rows else np.zeros((0, len(ml_features.NUMERIC_RAW_COLUMNS)))


def _assemble(
    blocks: Blocks, features: Sequence[str], scaler: ml_features.NumericScaler | None
) -> np.ndarray:
    numeric = None
    if "numeric" in features:
        assert scaler is not None and blocks.numeric_raw is not None
        numeric = scaler.transform(blocks.numeric_raw)
    return ml_projection.assemble_features(
        image=blocks.image, text=blocks.text, numeric=numeric, features=list(features)
    )


def _l2(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _resolve_encoders(
    features: Sequence[str], image_spec: str | None, text_spec: str | None
) -> tuple[Encoder | None, Encoder | None]:
    image = store.find_encoder(kind="image", spec=image_spec) if "image" in features else None
    text = store.find_encoder(kind="text", spec=text_spec) if "text" in features else None
    for needed, row, spec in (("image", image, image_spec), ("text", text, text_spec)):
        if needed in features and row is None:
            raise store.EncoderNotFound(
                f"no {needed} embeddings for {spec!r} yet; run `python manage.py encode`"
            )
    return image, text


# ==========================================================================================
# training


def train_projection(
    *,
    train_shops,
    before: date | None = None,
    features: str | Sequence[str] | None = None,
    config: ml_training.TrainConfig | None = None,
    image_spec: str | None = DEFAULT_IMAGE_ENCODER,
    text_spec: str | None = DEFAULT_TEXT_ENCODER,
    name: str = "",
    progress: Callable[[dict], None] | None = None,
) -> ProjectionModel:
    """Train a projection head on the training shops' offers created before ``before``.

    Ground truth is ``Offer.product_id``. Embeddings must be in the store (``encode``). The
    model row is created first (status training) and finished as ready or failed; the weights go
    to ``MEDIA_ROOT/models/projection-<id>.pt``.
    """
    features = parse_features(features)
    config = config or ml_training.TrainConfig()
    shops = selectors.shops_by_names(train_shops)
    image_encoder, text_encoder = _resolve_encoders(features, image_spec, text_spec)
    model = ProjectionModel.objects.create(
        name=name,
        features=features_name(features),
        image_encoder=image_encoder,
        text_encoder=text_encoder,
        trained_before=before,
        config=config.to_dict(),
    )
    model.train_shops.set(shops)
    try:
        started = time.perf_counter()
        offers = _offer_rows(selectors.offers_for(shops=shops, before=before))
        if not offers:
            raise ValueError("no training offers (check --train-shops and --before)")
        blocks = _load_blocks(
            offers, features, image_encoder=image_encoder, text_encoder=text_encoder
        )
        scaler = (
            ml_features.NumericScaler.fit(blocks.numeric_raw) if "numeric" in features else None
        )
        x = _assemble(blocks, features, scaler)
        product_ids = [o.product_id or None for o in offers]
        load_seconds = time.perf_counter() - started
        result = ml_training.train_projection(
            features=x, product_ids=product_ids, config=config, progress=progress
        )
        relative = f"models/projection-{model.pk}.pt"
        path = Path(settings.MEDIA_ROOT) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        ml_projection.save_projection(
            result.head,
            path,
            extra={"features": list(features), "projection_model_id": model.pk},
        )
        counts: dict[str, int] = defaultdict(int)
        for pid in product_ids:
            if pid:
                counts[pid] += 1
        best = result.best
        epochs = result.history
        train_seconds = sum(h["seconds"] for h in epochs)
        model.weights_path = relative
        model.numeric_scaler = scaler.to_dict() if scaler else {}
        model.history = _jsonable(epochs)
        model.n_train_offers = len(offers)
        model.n_train_products = sum(1 for n in counts.values() if n > 1)
        model.config = {**config.to_dict(), "in_dim": int(x.shape[1]), **result.head.config()}
        model.metrics = _jsonable(
            {
                "val_R@1": best.get("val_r1"),
                "val_R@3": best.get("val_r3"),
                "best_epoch": result.best_epoch,
                "epochs_run": len(epochs),
                "n_val_offers": len(result.val_indices),
                "n_lone_offers": sum(1 for pid in product_ids if not pid or counts[pid] == 1),
                "seconds_load": load_seconds,
                "seconds_train": train_seconds,
                "seconds_per_epoch": train_seconds / max(len(epochs), 1),
            }
        )
        model.status = ProjectionModel.Status.READY
        model.save()
    except Exception as exc:
        model.status = ProjectionModel.Status.FAILED
        model.error = f"{type(exc).__name__}: {exc}"
        model.save(update_fields=["status", "error"])
        raise
    return model


# ==========================================================================================
# matching


@dataclass
class _Side:
    offers: list[Offer]
    vectors: np.ndarray = field(repr=False)


def _vectors(
    offers: list[Offer],
    *,
    model: ProjectionModel | None,
    features: Sequence[str],
    image_encoder: Encoder | None,
    text_encoder: Encoder | None,
    scaler: ml_features.NumericScaler | None,
    head: ml_projection.ProjectionHead | None,
) -> np.ndarray:
    blocks = _load_blocks(offers, features, image_encoder=image_encoder, text_encoder=text_encoder)
    x = _assemble(blocks, features, scaler)
    if head is None:
        return _l2(x)
    return head.project(x)


def match(
    *,
    query_shop: Shop | str,
    index_shop: Shop | str,
    since: date | None = None,
    model: ProjectionModel | int | str | None = None,
    features: str | Sequence[str] | None = None,
    k: int = 3,
    brand_threshold: float | None = DEFAULT_BRAND_THRESHOLD,
    index_type: str = "flat",
    image_spec: str | None = DEFAULT_IMAGE_ENCODER,
    text_spec: str | None = DEFAULT_TEXT_ENCODER,
    user=None,
    plot: bool = True,
    one_to_one: bool = True,
    text_weight: float | None = None,
    rescore: str = "none",
) -> MatchRun:
    """Top-k index offers for every query offer; stores a MatchRun with Candidates and metrics.

    ``since`` restricts both shops to offers created on or after it. ``model``: a
    ProjectionModel (or its id, or "latest"), or None/"raw" for raw embeddings with
    ``features``. ``brand_threshold`` None disables blocking. Scoring (see
    ``matching.ml.retrieval``): ``one_to_one`` greedy assignment (an index offer is the top-1 of
    at most one query), ``text_weight`` > 0 mixes in TF-IDF similarity of the normalised texts
    (None: ``retrieval.text_weight_for(features)``, 0.5 without images, 0 with images),
    ``rescore`` "csls". With ``one_to_one=False``, ``text_weight=0``, ``rescore="none"`` the
    similarity is the plain cosine.
    """
    model = selectors.model_by_ref(model)
    if model is not None:
        if model.status != ProjectionModel.Status.READY:
            raise ValueError(f"projection model #{model.pk} is {model.status}, not ready")
        feats = parse_features(model.features)
        if features and parse_features(features) != feats:
            raise ValueError(f"model #{model.pk} was trained on {model.features}, not {features}")
        image_encoder, text_encoder = model.image_encoder, model.text_encoder
    else:
        feats = parse_features(features)
        image_encoder, text_encoder = _resolve_encoders(feats, image_spec, text_spec)
    query_shop, index_shop = selectors.shops_by_names([query_shop, index_shop])
    run = MatchRun.objects.create(
        created_by=user if user is not None and user.pk else None,
        query_shop=query_shop,
        index_shop=index_shop,
        since=since,
        model=model,
        features=features_name(feats),
        k=k,
        brand_threshold=brand_threshold,
        index_type=index_type,
    )
    try:
        if text_weight is None:
            text_weight = ml_retrieval.text_weight_for(feats)
        scoring = {"one_to_one": one_to_one, "text_weight": text_weight, "rescore": rescore}
        _run_match(run, feats, image_encoder, text_encoder, plot=plot, scoring=scoring)
    except Exception as exc:
        run.status = MatchRun.Status.FAILED
        run.error = f"{type(exc).__name__}: {exc}"
        run.save(update_fields=["status", "error"])
        raise
    return run


def _run_match(
    run: MatchRun,
    feats: tuple[str, ...],
    image_encoder: Encoder | None,
    text_encoder: Encoder | None,
    *,
    plot: bool,
    scoring: dict,
) -> None:
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    queries = _offer_rows(selectors.offers_for(shops=[run.query_shop], since=run.since))
    index = _offer_rows(selectors.offers_for(shops=[run.index_shop], since=run.since))
    model = run.model
    head = None
    scaler = None
    if model is not None:
        head, _ = ml_projection.load_projection(Path(settings.MEDIA_ROOT) / model.weights_path)
        if "numeric" in feats:
            scaler = ml_features.NumericScaler.from_dict(model.numeric_scaler)
    elif "numeric" in feats:
        scaler = ml_features.NumericScaler.fit(numeric_raw(queries + index))
    kwargs = {
        "model": model,
        "features": feats,
        "image_encoder": image_encoder,
        "text_encoder": text_encoder,
        "scaler": scaler,
        "head": head,
    }
    q_vectors = _vectors(queries, **kwargs)
    i_vectors = _vectors(index, **kwargs)
    timings["load_and_project"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    blocked = run.brand_threshold is not None
    q_brands = [o.brand for o in queries]
    i_brands = [o.brand for o in index]
    result = ml_retrieval.search(
        query_vecs=q_vectors,
        index_vecs=i_vectors,
        k=run.k,
        query_brands=q_brands if blocked else None,
        index_brands=i_brands if blocked else None,
        brand_threshold=run.brand_threshold if blocked else 0,
        index_type=run.index_type,
        one_to_one=scoring["one_to_one"],
        rescore=scoring["rescore"],
        **(
            {
                "query_texts": [o.text_normalised for o in queries],
                "index_texts": [o.text_normalised for o in index],
                "text_weight": scoring["text_weight"],
            }
            if scoring["text_weight"] > 0
            else {}
        ),
    )
    timings["search"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    metrics, curve, per_category = evaluate(queries, index, result, blocked=blocked, run=run)
    timings["metrics"] = time.perf_counter() - t2

    t3 = time.perf_counter()
    candidates = [
        Candidate(
            run=run,
            query_offer_id=queries[q].pk,
            candidate_offer_id=index[int(i)].pk,
            rank=rank + 1,
            similarity=float(result.similarities[q, rank]),
        )
        for q in range(len(queries))
        for rank, i in enumerate(result.indices[q])
        if i >= 0
    ]
    with transaction.atomic():
        Candidate.objects.bulk_create(candidates, batch_size=2000)
    timings["store"] = time.perf_counter() - t3

    if plot:
        t4 = time.perf_counter()
        run.plot_path = _plot(run, curve, per_category, metrics["per_category"])
        timings["plot"] = time.perf_counter() - t4
    timings["total"] = time.perf_counter() - t0
    metrics["seconds"] = timings
    metrics["scoring"] = scoring
    metrics["n_candidates"] = len(candidates)
    run.n_queries = len(queries)
    run.n_index = len(index)
    run.metrics = _jsonable(metrics)
    run.pr_curve = _jsonable(_thin_curve(curve))
    run.status = MatchRun.Status.DONE
    run.save()


def evaluate(
    queries: list[Offer],
    index: list[Offer],
    result: ml_retrieval.SearchResult,
    *,
    blocked: bool,
    run: MatchRun,
) -> tuple[dict, dict, dict]:
    """Metrics of a search against ground truth ``product_id`` (paper §3.6)."""
    positions: dict[str, list[int]] = defaultdict(list)
    for i, offer in enumerate(index):
        if offer.product_id:
            positions[offer.product_id].append(i)
    relevant = [set(positions.get(o.product_id, ())) if o.product_id else set() for o in queries]
    has_match = np.array([bool(r) for r in relevant], dtype=bool)
    n_with_match = int(has_match.sum())
    top1 = result.indices[:, 0] if len(queries) else np.zeros(0, dtype=np.int64)
    top1_sim = result.similarities[:, 0] if len(queries) else np.zeros(0, dtype=np.float32)
    top1_correct = np.array([int(i) in rel for i, rel in zip(top1, relevant, strict=True)])
    precision, recall, thresholds = ml_metrics.pr_curve_at_1(
        top1_similarity=top1_sim, top1_correct=top1_correct, n_with_match=n_with_match
    )
    f1, f1_threshold = ml_metrics.best_f1(precision, recall, thresholds)
    metrics: dict[str, Any] = {
        "n_queries": len(queries),
        "n_index": len(index),
        "n_queries_with_match": n_with_match,
        "AUCPR": ml_metrics.aucpr(precision, recall),
        "best_F1": f1,
        "best_F1_threshold": f1_threshold,
    }
    for k in (1, 3, 10):
        if k <= run.k:
            metrics[f"R@{k}"] = ml_metrics.recall_at_k(
                retrieved=result.indices, relevant=relevant, k=k
            )
    true_pairs = [(q, i) for q, rel in enumerate(relevant) for i in rel]
    if blocked:
        metrics["blocking_recall"] = ml_retrieval.blocking_recall(
            query_brands=[o.brand for o in queries],
            index_brands=[o.brand for o in index],
            true_pairs=true_pairs,
            threshold=run.brand_threshold,
        )
    else:
        metrics["blocking_recall"] = 1.0 if true_pairs else float("nan")
    metrics["comparisons"] = int(result.comparisons)
    metrics["comparisons_unblocked"] = int(result.comparisons_unblocked)
    metrics["comparisons_share"] = (
        result.comparisons / result.comparisons_unblocked if result.comparisons_unblocked else 0.0
    )
    per_category = ml_metrics.per_category_pr(
        categories=[o.category or "(none)" for o in queries],
        top1_similarity=top1_sim,
        top1_correct=top1_correct,
        has_match=has_match,
    )
    sizes = defaultdict(int)
    for o in queries:
        sizes[o.category or "(none)"] += 1
    metrics["per_category"] = {
        cat: {"AUCPR": value[3], "n_queries": sizes[cat]} for cat, value in per_category.items()
    }
    curve = {
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "thresholds": thresholds.tolist(),
    }
    return metrics, curve, per_category


def _thin_curve(curve: dict) -> dict:
    n = len(curve["recall"])
    if n <= MAX_PR_POINTS:
        return curve
    keep = np.unique(np.r_[np.linspace(0, n - 1, MAX_PR_POINTS).astype(int), n - 1])
    return {key: [values[i] for i in keep] for key, values in curve.items()}


def _plot(run: MatchRun, curve: dict, per_category: dict, stats: dict) -> str:
    relative = f"runs/run-{run.pk}-pr.png"
    path = Path(settings.MEDIA_ROOT) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    curves = {"all queries": (np.asarray(curve["precision"]), np.asarray(curve["recall"]))}
    for cat in sorted(per_category, key=lambda c: -stats[c]["n_queries"])[:PLOTTED_CATEGORIES]:
        if len(per_category) > 1:
            curves[cat] = (per_category[cat][0], per_category[cat][1])
    title = f"run #{run.pk}: {run.query_shop} → {run.index_shop}, {run.features}"
    title += f" ({'model #' + str(run.model_id) if run.model_id else 'raw'})"
    ml_metrics.plot_pr_curves(curves, path, title=title)
    return relative


def _jsonable(value):
    """Plain JSON: NaN/inf -> None, numpy scalars -> Python (PostgreSQL jsonb rejects NaN)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
