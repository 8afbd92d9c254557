"""The pair discriminator in the services: trained with a projection model, out-of-fold
(:func:`train_out_of_fold`, the default) or on its held-out calibration split (:func:`train`),
applied by `match` (:mod:`matching.ml.discriminator` is the pure core).

Training: every training shop in turn queries the OTHER training shops; its queries are its
held-out offers (products the projection never saw: one fold, or the calibration split), the
index is the other shops' held-out
offers plus their training offers (distractors), as in :func:`matching.services.training.
calibrate`. Shortlists of :data:`~matching.ml.discriminator.DISCRIMINATOR_WIDTH` come from the
match service's own search; their pairs (and the same lists without the true match) train the
classifier. Out-of-fold probabilities of the real lists, ranked as `match` ranks them, are what
the model's calibration is fit on.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from django.conf import settings

from matching.ml import discriminator as ml_disc
from matching.ml import evaluation as ml_evaluation
from matching.ml import labels as ml_labels
from matching.ml import retrieval as ml_retrieval
from matching.ml import training as ml_training
from matching.ml.match_config import MatchConfig
from matching.ml.one_to_one import final_ranking
from matching.ml.pair_features import Side, pair_features
from matching.ml.retrieval import SearchResult
from matching.ml.stage_timer import timed
from matching.ml.text_similarity import SparseText
from matching.ml.training import TrainConfig


def _l2(x: np.ndarray | None) -> np.ndarray | None:
    if x is None:
        return None
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def side(offers: Sequence, blocks, vectors: np.ndarray) -> Side:
    """The :class:`Side` of offer rows (``matching.services.features.offer_rows``), their raw
    feature blocks and the vectors the search compares."""
    return Side(
        vectors=np.asarray(vectors, dtype=np.float32),
        texts=[o.text_normalised for o in offers],
        brand_keys=[o.brand_normalised for o in offers],
        prices=[float(o.price) if o.price is not None else None for o in offers],
        sizes=[o.sizes or () for o in offers],
        categories=[o.category for o in offers],
        image=_l2(blocks.image),
        text=_l2(blocks.text),
        n_images=None if blocks.has_image is None else np.asarray(blocks.has_image, dtype=float),
    )


def shortlist_config(config: MatchConfig) -> MatchConfig:
    """The search that feeds the discriminator: a wider, plain top-k (no assignment)."""
    return replace(config, k=max(config.k, ml_disc.DISCRIMINATOR_WIDTH), one_to_one=False)


def shortlists(
    config: MatchConfig, query: Side, index: Side, *, sparse: SparseText | None = None
) -> SearchResult:
    """The match service's search (``config`` resolved), :func:`shortlist_config` wide.
    ``sparse``: the TF-IDF fitted on both sides' texts, when the caller has one (the pair
    features use the same)."""
    with_texts = bool(config.text_weight)
    return ml_retrieval.search(
        query_vecs=query.vectors,
        index_vecs=index.vectors,
        config=shortlist_config(config),
        query_keys=list(query.brand_keys),
        index_keys=list(index.brand_keys),
        query_texts=list(query.texts) if with_texts else None,
        index_texts=list(index.texts) if with_texts else None,
        sparse=sparse,
    )


PROBABILITY_PENALTY = 1.0  # probabilities lie in [0, 1]: minus 1 is below every assigned query


def rank(
    config: MatchConfig,
    cand_idx: np.ndarray,
    prob: np.ndarray,
    cand_cos: np.ndarray,
    cand_score: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top ``config.k`` with the run's one-to-one assignment: ordered by probability, or, with
    ``config.discriminator_rerank`` off, by ``cand_score`` (the search) and then given the
    probabilities as scores (capped by rank 1's, the unassigned penalty subtracted).

    On the probability scale the unassigned penalty is a whole 1 (whenever
    ``config.unassigned_penalty`` is on): a query whose candidates all went to better-scoring
    queries scores at most 0, below every assigned query, so one run never auto-accepts two
    queries of a shop to one index offer (the soft cosine-scale penalty could leave such a
    query above a calibrated accept threshold)."""
    drop = PROBABILITY_PENALTY if config.unassigned_penalty > 0 else 0.0
    kwargs = {"k": config.k, "one_to_one": config.one_to_one, "penalty": 0.0}
    if config.discriminator_rerank or cand_score is None:
        return final_ranking(cand_idx, prob, cand_cos, **{**kwargs, "penalty": drop})
    # the search's order; the probability (and the cosine) of each pair travel with it
    indices, score, p = final_ranking(cand_idx, cand_score, prob, **kwargs)
    _, penalised, cos = final_ranking(
        cand_idx, cand_score, cand_cos, **{**kwargs, "penalty": config.unassigned_penalty}
    )
    with np.errstate(invalid="ignore"):
        unassigned = (score[:, 0] - penalised[:, 0]) > 1e-6  # NaN (no candidate): False
    p = np.where(indices >= 0, np.minimum(p, p[:, :1]), -np.inf).astype(np.float32)
    p[unassigned] -= drop
    return indices, p, cos


def search(
    discriminator: ml_disc.Discriminator,
    config: MatchConfig,
    query: Side,
    index: Side,
    *,
    timings: dict[str, float] | None = None,
) -> SearchResult:
    """The match search with the discriminator: shortlist, score every pair, rank.
    ``timings``: seconds per stage are added to it (shortlist, the pair features' stages,
    predict, rank)."""
    with timed(timings, "tfidf_fit"):  # one TF-IDF for the search and the pair features
        sparse = SparseText().fit([*query.texts, *index.texts])
    with timed(timings, "shortlist"):
        short = shortlists(config, query, index, sparse=sparse)
    x, q_pos, k_pos = pair_features(
        query=query,
        index=index,
        cand_idx=short.indices,
        cand_score=short.similarities,
        sparse=sparse,
        timings=timings,
    )
    p = discriminator.predict(x, list_ids=q_pos, timings=timings)
    with timed(timings, "rank"):
        prob = ml_disc.scatter(short.indices.shape, q_pos, k_pos, p)
        cosines = short.cosines if short.cosines is not None else short.similarities
        indices, sims, cos = rank(config, short.indices, prob, cosines, short.similarities)
    return SearchResult(
        indices=indices,
        similarities=sims,
        comparisons=short.comparisons,
        comparisons_unblocked=short.comparisons_unblocked,
        cosines=cos,
    )


def load(relative_path: str) -> ml_disc.Discriminator:
    return ml_disc.Discriminator.load(Path(settings.MEDIA_ROOT) / relative_path)


@dataclass
class PairSet:
    """Pair rows of shortlists whose queries the projection did not see, collected by
    :func:`collect` (possibly from several projections: out-of-fold) and fitted by :func:`fit`.
    ``lists``: per shortlist matrix ``(first row, idx, score, cos, q_pos, k_pos, relevant)``."""

    xs: list = field(default_factory=list)
    ys: list = field(default_factory=list)
    groups: list = field(default_factory=list)
    list_ids: list = field(default_factory=list)
    lists: list = field(default_factory=list)
    n_lists: int = 0

    @property
    def n_rows(self) -> int:
        return sum(len(y) for y in self.ys)


def collect(
    pairs: PairSet,
    *,
    offers: Sequence,
    full: Side,
    held: Sequence[int],
    keep: Sequence[int],
    config: MatchConfig,
    pids: Sequence,
    known: Sequence[bool],
) -> None:
    """Add the shortlists of ``held`` (each training shop's held offers against the other
    shops' ``held`` + ``keep`` offers) to ``pairs``: every pair, and the lists of the queries
    with a true candidate once more without it (see the module doc)."""
    held, pool = list(held), [*held, *keep]
    for shop in sorted({offers[i].shop_id for i in held}):
        q_rows = [i for i in held if offers[i].shop_id == shop and known[i]]
        x_rows = [i for i in pool if offers[i].shop_id != shop]
        if not q_rows or not x_rows:
            continue
        q_side, x_side = full.subset(q_rows), full.subset(x_rows)
        sparse = SparseText().fit([*q_side.texts, *x_side.texts])
        short = shortlists(config, q_side, x_side, sparse=sparse)
        idx, score = short.indices, short.similarities
        x_pids = np.array([pids[i] or "" for i in x_rows], dtype=object)
        q_pids = np.array([pids[i] or "" for i in q_rows], dtype=object)
        is_true = (
            (idx >= 0) & (x_pids[np.maximum(idx, 0)] == q_pids[:, None]) & (q_pids != "")[:, None]
        )
        relevant = ml_evaluation.relevant_positions(
            query_product_ids=list(q_pids), index_product_ids=list(x_pids)
        )
        groups = np.array(
            [p or f"offer-{offers[i].pk}" for p, i in zip(q_pids, q_rows, strict=True)]
        )
        x1, qp1, kp1 = pair_features(
            query=q_side, index=x_side, cand_idx=idx, cand_score=score, sparse=sparse
        )
        start = pairs.n_rows
        pairs.xs.append(x1)
        pairs.ys.append(is_true[qp1, kp1])
        pairs.groups.append(groups[qp1])
        pairs.list_ids.append(pairs.n_lists + qp1)
        pairs.n_lists += len(idx)
        cos = short.cosines if short.cosines is not None else score
        pairs.lists.append((start, idx, score, cos, qp1, kp1, relevant))
        rows, idx2, score2 = ml_disc.without_true_matches(idx, score, is_true)
        if len(rows):
            x2, qp2, _ = pair_features(
                query=q_side.subset(rows), index=x_side, cand_idx=idx2, cand_score=score2,
                sparse=sparse,
            )  # fmt: skip
            pairs.xs.append(x2)
            pairs.ys.append(np.zeros(len(x2), dtype=bool))
            pairs.groups.append(groups[rows][qp2])
            pairs.list_ids.append(pairs.n_lists + qp2)
            pairs.n_lists += len(rows)


def fit(
    pairs: PairSet,
    *,
    config: MatchConfig,
    seed: int,
    started: float,
    folds: int = 0,
    stacked: bool = False,
) -> tuple[ml_disc.Discriminator | None, dict | None, str]:
    """Fit the discriminator on ``pairs`` (``stacked``: :func:`~matching.ml.discriminator.
    fit_stacked`); the calibration inputs are the out-of-fold probabilities (grouped by query
    product) of the real lists, ranked as `match` ranks them."""
    if not pairs.xs:
        return None, None, "no discriminator: no held-out shortlists"
    x, y = np.concatenate(pairs.xs), np.concatenate(pairs.ys)
    groups = np.concatenate(pairs.groups)
    if stacked:
        list_ids = np.concatenate(pairs.list_ids)
        discriminator, note, oof = ml_disc.fit_stacked(
            x, y, groups=groups, list_ids=list_ids, seed=seed
        )
    else:
        discriminator, note = ml_disc.fit_discriminator(x, y, seed=seed)
        oof = None if discriminator is None else ml_disc.out_of_fold(x, y, groups, seed=seed)
    if discriminator is None or oof is None:
        return None, None, note
    calibration_inputs: dict = {"sims": [], "correct1": [], "correctk": [], "has_match": []}
    for start, idx, score, cos, qp, kp, relevant in pairs.lists:
        prob = ml_disc.scatter(idx.shape, qp, kp, oof[start : start + len(qp)])
        indices, sims, _ = rank(config, idx, prob, cos, score)
        for row, rel, sim in zip(indices, relevant, sims, strict=True):
            calibration_inputs["sims"].append(float(sim[0]) if row[0] >= 0 else float("-inf"))
            calibration_inputs["correct1"].append(int(row[0]) in rel)
            calibration_inputs["correctk"].append(any(int(i) in rel for i in row if i >= 0))
            calibration_inputs["has_match"].append(bool(rel))
    discriminator.info.update(
        {
            "n_queries": len(calibration_inputs["sims"]),
            "width": ml_disc.DISCRIMINATOR_WIDTH,
            "projection_folds": folds,
            "match_config": config.to_dict(),
            "seconds_total": time.perf_counter() - started,
        }
    )
    return discriminator, calibration_inputs, note


def train(
    *,
    offers: Sequence,
    full: Side,
    held: Sequence[int],
    keep: Sequence[int],
    config: MatchConfig,
    seed: int,
    labels: Sequence | None = None,
    known: Sequence[bool] | None = None,
    stacked: bool = False,
) -> tuple[ml_disc.Discriminator | None, dict | None, str]:
    """Fit the discriminator on the held-out shortlists (see the module doc).

    ``full``: the Side of every offer (``offers`` order, projected vectors); ``held`` /
    ``keep``: the calibration split; ``labels``: each offer's product (group), default its
    ``product_id`` (verdict labels: matching/ml/labels.py); ``known``: which offers' matches are
    known (only those serve as queries; default all). Returns (discriminator or None, the
    out-of-fold calibration inputs ``{"sims", "correct1", "correctk", "has_match"}`` or None,
    a note)."""
    started = time.perf_counter()
    pids = [o.product_id or None for o in offers] if labels is None else list(labels)
    known = [True] * len(offers) if known is None else list(known)
    pairs = PairSet()
    collect(
        pairs, offers=offers, full=full, held=held, keep=keep, config=config, pids=pids,
        known=known,
    )  # fmt: skip
    return fit(pairs, config=config, seed=seed, started=started, stacked=stacked)


def train_out_of_fold(
    *,
    offers: Sequence,
    blocks,
    x_all: np.ndarray,
    labels: Sequence,
    known: Sequence[bool],
    hard_negatives: dict,
    train_config: TrainConfig,
    config: MatchConfig,
) -> tuple[ml_disc.Discriminator | None, dict | None, str]:
    """Out-of-fold training: ``train_config.discriminator_folds`` projections, each trained
    without one fold of the products (:func:`~matching.ml.discriminator.product_folds`), give
    that fold's offers the shortlists of new offers; the discriminator is fitted on the pairs
    of all folds, so every training product serves as a query once (the held-out split gives
    only ``calibration_share`` of them). ``x_all``: the assembled features of ``offers``."""
    started = time.perf_counter()
    n_folds = train_config.discriminator_folds
    try:
        folds = ml_disc.product_folds(labels, folds=n_folds, seed=train_config.seed)
    except ValueError as error:
        return None, None, f"no discriminator: {error}"
    everything = np.arange(len(offers))
    pairs = PairSet()
    seconds: dict[str, float] = {}
    for held in folds:
        keep = np.setdiff1d(everything, held)
        with timed(seconds, "seconds_fold_projections"):
            result = ml_training.train_projection(
                features=x_all[keep],
                product_ids=[labels[i] for i in keep],
                config=train_config,
                hard_negatives=ml_labels.restrict_negatives(hard_negatives, keep),
            )
            full = side(offers, blocks, result.head.project(x_all))
        with timed(seconds, "seconds_shortlists_and_features"):
            collect(
                pairs, offers=offers, full=full, held=held, keep=keep, config=config,
                pids=list(labels), known=list(known),
            )  # fmt: skip
    discriminator, inputs, note = fit(
        pairs,
        config=config,
        seed=train_config.seed,
        started=started,
        folds=n_folds,
        stacked=train_config.discriminator_stacked,
    )
    if discriminator is not None:
        discriminator.info.update(seconds)
    return discriminator, inputs, f"{note}; out-of-fold over {n_folds} projections"
