"""Matching: top-k index offers for every query offer, stored as a MatchRun with Candidates,
metrics (:mod:`matching.ml.evaluation`) and a PR plot.

A run is created "running" with the host and pid of the process computing it; its candidates
and its final status / metrics are written in ONE transaction, so a killed process leaves no
partial candidates, only a "running" run whose process is gone. :func:`fail_stale_runs` (called
at the start of every match) marks such runs failed ("interrupted"), see
:func:`matching.selectors.run_is_interrupted`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import connection, transaction

from core.failures import marks_failed
from matching import loop_selectors, selectors
from matching.ml import brands as ml_brands
from matching.ml import evaluation as ml_evaluation
from matching.ml import features as ml_features
from matching.ml import metrics as ml_metrics
from matching.ml import projection as ml_projection
from matching.ml import retrieval as ml_retrieval
from matching.ml.encoders import DEFAULT_IMAGE_ENCODER, DEFAULT_TEXT_ENCODER
from matching.ml.match_config import MatchConfig
from matching.models import Candidate, Encoder, MatchRun, ProjectionModel, Shop
from matching.services import discriminator as discriminator_service
from matching.services import features as feature_rows

PLOTTED_CATEGORIES = 5
INTERRUPTED = "interrupted: the process computing this run is gone"


def fail_stale_runs() -> int:
    """Mark runs left "running" by a dead process as failed ("interrupted") and drop any
    candidates they have (none since candidates are written with the final status, but a run
    killed by an older version could have some); returns how many runs."""
    stale = [run.pk for run in selectors.interrupted_runs()]
    if not stale:
        return 0
    with transaction.atomic():
        n = MatchRun.objects.filter(pk__in=stale, status=MatchRun.Status.RUNNING).update(
            status=MatchRun.Status.FAILED, error=INTERRUPTED
        )
        Candidate.objects.filter(run_id__in=stale).delete()
    return n


def match(
    *,
    query_shop: Shop | str,
    index_shop: Shop | str,
    since: date | None = None,
    model: ProjectionModel | int | str | None = None,
    features: str | Sequence[str] | None = None,
    config: MatchConfig | None = None,
    image_spec: str | None = DEFAULT_IMAGE_ENCODER,
    text_spec: str | None = DEFAULT_TEXT_ENCODER,
    user=None,
    plot: bool = True,
    new_only: bool = False,
) -> MatchRun:
    """Top-k index offers for every query offer; stores a MatchRun with Candidates and metrics.

    ``since`` restricts both shops to offers created on or after it. ``model``: a
    ProjectionModel (or its id, or "latest"), or None/"raw" for raw embeddings with
    ``features``. ``config``: the scoring parameters (:class:`MatchConfig`, its defaults when
    None); the run stores ``config.resolved(features).to_dict()``. ``new_only``: only query
    offers without a valid decision (matching/verdicts.py; the daily incremental run); raises
    ValueError when every query offer has one.
    """
    config = config or MatchConfig()
    fail_stale_runs()
    model = selectors.model_by_ref(model)
    if model is not None:
        if model.status != ProjectionModel.Status.READY:
            raise ValueError(f"projection model #{model.pk} is {model.status}, not ready")
        feats = ml_features.parse_features(model.features)
        if features and ml_features.parse_features(features) != feats:
            raise ValueError(f"model #{model.pk} was trained on {model.features}, not {features}")
        image_encoder, text_encoder = model.image_encoder, model.text_encoder
    else:
        feats = ml_features.parse_features(features)
        image_encoder, text_encoder = feature_rows.resolve_encoders(feats, image_spec, text_spec)
    query_shop, index_shop = selectors.shops_by_names([query_shop, index_shop])
    skip: set[int] = set()
    if new_only:
        skip = _decided_queries(query_shop, since)
    resolved = config.resolved(feats)
    run = MatchRun.objects.create(
        created_by=user if user is not None and user.pk else None,
        query_shop=query_shop,
        index_shop=index_shop,
        since=since,
        model=model,
        features=ml_features.features_name(feats),
        k=resolved.k,
        brand_threshold=resolved.brand_threshold,
        index_type=resolved.index_type,
        config=resolved.to_dict(),
        worker_host=selectors.this_host(),
        worker_pid=os.getpid(),
    )
    with marks_failed(run):
        _run_match(run, feats, resolved, image_encoder, text_encoder, plot=plot, skip=skip)
    return run


def _decided_queries(query_shop: Shop, since: date | None) -> set[int]:
    """Query offers with a valid decision (``--new-only`` leaves them out)."""
    pks = list(selectors.offers_for(shops=[query_shop], since=since).values_list("pk", flat=True))
    decided = loop_selectors.decided_query_offers(pks)
    if pks and len(decided) >= len(pks):
        raise ValueError(
            f"--new-only: all {len(pks)} query offers of {query_shop} already have a valid "
            "decision; nothing to match"
        )
    return decided


def search_offers(
    config: MatchConfig,
    query_vecs: np.ndarray,
    index_vecs: np.ndarray,
    query_keys: list[str],
    index_keys: list[str],
    query_texts: list[str],
    index_texts: list[str],
) -> ml_retrieval.SearchResult:
    """The one call of the retrieval library (``config`` resolved for the run's features)."""
    with_texts = bool(config.text_weight)
    return ml_retrieval.search(
        query_vecs=query_vecs,
        index_vecs=index_vecs,
        config=config,
        query_keys=query_keys,
        index_keys=index_keys,
        query_texts=query_texts if with_texts else None,
        index_texts=index_texts if with_texts else None,
    )


def _run_match(
    run: MatchRun,
    feats: tuple[str, ...],
    config: MatchConfig,
    image_encoder: Encoder | None,
    text_encoder: Encoder | None,
    *,
    plot: bool,
    skip: set[int] | frozenset[int] = frozenset(),
) -> None:
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    query_qs = selectors.offers_for(shops=[run.query_shop], since=run.since)
    if skip:
        query_qs = query_qs.exclude(pk__in=skip)
    queries = feature_rows.offer_rows(query_qs)
    # index offers in brand-key order: a brand block is then a contiguous slice of the index
    # vectors, searched without copying it (matching.ml.retrieval.cosine_shortlists)
    index_qs = selectors.offers_for(shops=[run.index_shop], since=run.since)
    index = feature_rows.offer_rows(index_qs.order_by("brand_normalised", "pk"))
    head = scaler = None
    if run.model is not None:
        head, _ = ml_projection.load_projection(Path(settings.MEDIA_ROOT) / run.model.weights_path)
        if "numeric" in feats:
            scaler = ml_features.NumericScaler.from_dict(run.model.numeric_scaler)
    elif "numeric" in feats:
        scaler = ml_features.NumericScaler.fit(feature_rows.numeric_raw(queries + index))
    encoders = {"image_encoder": image_encoder, "text_encoder": text_encoder}
    use_discriminator = (
        config.discriminator and run.model is not None and bool(run.model.discriminator_path)
    )
    q_blocks = i_blocks = None
    discriminator_seconds: dict[str, float] = {}
    if use_discriminator:  # it reads the raw blocks too
        q_blocks = feature_rows.load_blocks(queries, feats, **encoders)
        i_blocks = feature_rows.load_blocks(index, feats, **encoders)
        q_vectors = feature_rows.project(q_blocks, features=feats, scaler=scaler, head=head)
        i_vectors = feature_rows.project(i_blocks, features=feats, scaler=scaler, head=head)
    else:  # one array per side, built and normalised in place
        sides = []
        for offers in (queries, index):
            x = feature_rows.raw_vectors(
                offers, features=feats, scaler=scaler, l2_rows=head is None, **encoders
            )
            sides.append(x if head is None else head.project(x))
            del x
        q_vectors, i_vectors = sides
    timings["load_and_project"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    q_keys = [o.brand_normalised for o in queries]
    i_keys = [o.brand_normalised for o in index]
    if use_discriminator:
        result = discriminator_service.search(
            discriminator_service.load(run.model.discriminator_path),
            config,
            discriminator_service.side(queries, q_blocks, q_vectors),
            discriminator_service.side(index, i_blocks, i_vectors),
            timings=discriminator_seconds,
        )
    else:
        result = search_offers(
            config,
            q_vectors,
            i_vectors,
            q_keys,
            i_keys,
            [o.text_normalised for o in queries],
            [o.text_normalised for o in index],
        )
    timings["search"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    evaluation = ml_evaluation.evaluate(
        query_product_ids=[o.product_id for o in queries],
        index_product_ids=[o.product_id for o in index],
        indices=result.indices,
        similarities=result.similarities,
        k=config.k,
        query_categories=[o.category for o in queries],
    )
    metrics = {**evaluation.metrics, **_search_metrics(result, config, q_keys, i_keys, evaluation)}
    timings["metrics"] = time.perf_counter() - t2

    if plot:
        t4 = time.perf_counter()
        run.plot_path = _plot(run, evaluation, metrics["per_category"])
        timings["plot"] = time.perf_counter() - t4
    rows = candidate_rows(
        query_pks=[o.pk for o in queries],
        index_pks=[o.pk for o in index],
        indices=result.indices,
        similarities=result.similarities,
    )
    metrics["n_candidates"] = len(rows[0])
    metrics["discriminator"] = use_discriminator
    if discriminator_seconds:  # the discriminator's part of timings["search"], by stage
        metrics["discriminator_seconds"] = discriminator_seconds
    metrics["new_only"] = bool(skip)
    metrics["n_skipped_decided"] = len(skip)
    run.n_queries = len(queries)
    run.n_index = len(index)
    run.pr_curve = ml_evaluation.jsonable(ml_evaluation.thin_curve(evaluation.curve))
    run.status = MatchRun.Status.DONE
    t3 = time.perf_counter()
    with transaction.atomic():  # candidates and "done" together, or neither
        store_candidates(run_id=run.pk, rows=rows)
        timings["store"] = time.perf_counter() - t3
        timings["total"] = time.perf_counter() - t0
        metrics["seconds"] = timings
        run.metrics = ml_evaluation.jsonable(metrics)
        run.save()


CANDIDATE_COLUMNS = ("run_id", "query_offer_id", "candidate_offer_id", "rank", "similarity")
#: rows per bulk_create batch where COPY is not available (SQLite caps it by its parameter limit)
BULK_BATCH = 20_000
#: rows per COPY statement (bounds the client-side buffer, not the transaction)
COPY_BATCH = 200_000


def candidate_rows(
    *,
    query_pks: Sequence[int],
    index_pks: Sequence[int],
    indices: np.ndarray,
    similarities: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(query offer pk, candidate offer pk, rank from 1, similarity) columns of the candidates of
    a search result (``indices`` (nq, k) index positions, -1 = none), in query then rank order.

    Similarities are the float32 scores widened to float64, as ``float(np.float32)`` gives."""
    indices = np.asarray(indices, dtype=np.int64)
    if indices.shape != np.shape(similarities) or indices.shape[0] != len(query_pks):
        raise ValueError(
            f"indices {indices.shape} and similarities {np.shape(similarities)} must be "
            f"(n queries = {len(query_pks)}, k)"
        )
    q_pos, rank = np.nonzero(indices >= 0)  # row-major: query, then rank
    q_pk = np.asarray(query_pks, dtype=np.int64)[q_pos]
    c_pk = np.asarray(index_pks, dtype=np.int64)[indices[q_pos, rank]]
    sims = np.asarray(similarities, dtype=np.float32)[q_pos, rank].astype(np.float64)
    return q_pk, c_pk, rank.astype(np.int64) + 1, sims


def store_candidates(
    *, run_id: int, rows: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
) -> int:
    """Write candidate rows (:func:`candidate_rows`) in bulk, inside the caller's transaction:
    COPY on PostgreSQL, large bulk_create batches elsewhere; returns how many were written."""
    q_pk, c_pk, rank, sims = (a.tolist() for a in rows)
    n = len(q_pk)
    if connection.vendor == "postgresql":
        table = Candidate._meta.db_table
        statement = f"COPY {table} ({', '.join(CANDIDATE_COLUMNS)}) FROM STDIN"
        with connection.cursor() as cursor:
            for start in range(0, n, COPY_BATCH):
                end = min(start + COPY_BATCH, n)
                with cursor.copy(statement) as copy:
                    for i in range(start, end):
                        copy.write_row((run_id, q_pk[i], c_pk[i], rank[i], sims[i]))
        return n
    for start in range(0, n, BULK_BATCH):
        end = min(start + BULK_BATCH, n)
        Candidate.objects.bulk_create(
            [
                Candidate(
                    run_id=run_id,
                    query_offer_id=q_pk[i],
                    candidate_offer_id=c_pk[i],
                    rank=rank[i],
                    similarity=sims[i],
                )
                for i in range(start, end)
            ],
            batch_size=BULK_BATCH,
        )
    return n


def _search_metrics(
    result: ml_retrieval.SearchResult,
    config: MatchConfig,
    query_keys: list[str],
    index_keys: list[str],
    evaluation: ml_evaluation.Evaluation,
) -> dict:
    """Blocking recall and the comparisons the blocked search made."""
    if config.brand_threshold is not None:
        blocking_recall = ml_brands.blocking_recall(
            query_keys=query_keys,
            index_keys=index_keys,
            true_pairs=evaluation.true_pairs,
            threshold=config.brand_threshold,
        )
    else:
        blocking_recall = 1.0 if evaluation.true_pairs else float("nan")
    unblocked = result.comparisons_unblocked
    return {
        "blocking_recall": blocking_recall,
        "comparisons": int(result.comparisons),
        "comparisons_unblocked": int(unblocked),
        "comparisons_share": result.comparisons / unblocked if unblocked else 0.0,
    }


def _plot(run: MatchRun, evaluation: ml_evaluation.Evaluation, stats: dict) -> str:
    relative = f"runs/run-{run.pk}-pr.png"
    path = Path(settings.MEDIA_ROOT) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    curve, per_category = evaluation.curve, evaluation.per_category
    curves = {"all queries": (np.asarray(curve["precision"]), np.asarray(curve["recall"]))}
    for cat in sorted(per_category, key=lambda c: -stats[c]["n_queries"])[:PLOTTED_CATEGORIES]:
        if len(per_category) > 1:
            curves[cat] = (per_category[cat][0], per_category[cat][1])
    title = f"run #{run.pk}: {run.query_shop} → {run.index_shop}, {run.features}"
    title += f" ({'model #' + str(run.model_id) if run.model_id else 'raw'})"
    ml_metrics.plot_pr_curves(curves, path, title=title)
    return relative
