"""Routing reads: the current routing of a run, a routing preview, row progress.

The preview's heavy part is the run's scores: the top-1 similarity of every query (90,000 at
the paper's scale) and the PR curve routing uses (the run's own, or the expected curve from its
model's calibration). They are fixed once the run is done (``match`` writes candidates, curve
and status in one transaction and nothing rewrites them), so the triage page reads them through
:func:`cached_run_scores`: Django's cache, keyed by the run and a stamp of the run's row; the
routing, the rows, verdicts and gold LR+ are read fresh on every page.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

import numpy as np
from django.core.cache import cache
from django.db import connection
from django.db.models import BooleanField, Case, Count, Value, When
from django.db.models.fields.json import KT

from matching import selectors as matching_selectors
from matching.ml.calibration import Calibration, reliability_bins
from matching.models import MatchRun
from validation import quality, routing
from validation.models import ReviewRow, Routing
from validation.selectors.quality import row_facts_of

# LR+ used for the predicted P_hitl before any validator has been measured (paper, Table 5, v2).
PAPER_LR_PLUS = 38.0


def current_routing(*, run: MatchRun) -> Routing | None:
    return Routing.objects.filter(run=run, is_current=True).first()


def measured_lr_plus(*, run: MatchRun | None = None) -> tuple[float, str]:
    """LR+ of aggregated decisions on gold rows (this run, else all runs), else the paper's."""
    for qs, source in (
        (ReviewRow.objects.filter(run=run) if run else None, "gold rows of this run"),
        (ReviewRow.objects.all(), "gold rows of all runs"),
    ):
        if qs is None:
            continue
        gold = qs.filter(kind=ReviewRow.Kind.GOLD, status=ReviewRow.Status.DECIDED).exclude(
            truth=ReviewRow.Truth.UNKNOWN
        )
        rates = quality.confusion(quality.decided_codes(row_facts_of(gold)))
        if rates.tp + rates.fn > 0 and rates.fp + rates.tn > 0 and not math.isnan(rates.lr_plus):
            return rates.lr_plus, source
    return PAPER_LR_PLUS, "paper (no gold rows judged yet)"


@dataclass(frozen=True)
class RunScores:
    """What the routing preview needs of a run's candidates and curve (:func:`run_scores`):
    ``similarities`` the top-1 similarity of every query, ascending; ``source`` and ``curve``
    as ``routing.choose_source`` gives them."""

    similarities: np.ndarray
    source: routing.Source
    curve: routing.PRCurve | None


def run_scores(*, run: MatchRun) -> RunScores:
    """The run's top-1 similarities and the curve routing uses, computed from the database."""
    sims = matching_selectors.top1_similarity_array(run)
    run_curve = routing.PRCurve.from_json(run.pr_curve)  # read (and decoded) once
    source, curve = routing.choose_source(
        labelled=run_is_labelled(run=run, curve=run_curve),
        run_curve=run_curve,
        calibration=routing_calibration(run=run),
        model_id=run.model_id,
        run_config=run.config or {},
        similarities=sims,
    )
    return RunScores(similarities=sims, source=source, curve=curve)


# cached scores are dropped after this long even if the run's stamp is unchanged
RUN_SCORES_CACHE_SECONDS = 3600


def run_scores_stamp(*, run: MatchRun) -> str:
    """A digest of the run's row as far as the scores depend on it (status, size, model,
    scoring parameters, metrics, creation time): a changed run gets a new cache entry. Read
    from the run as loaded (the PR curve itself may be deferred)."""
    fields = [
        run.pk,
        run.created_at.isoformat() if run.created_at else None,
        run.status,
        run.n_queries,
        run.n_index,
        run.k,
        run.model_id,
        run.config,
        run.metrics,
    ]
    text = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def run_scores_cache_key(*, run: MatchRun) -> str:
    return f"validation:run-scores:{run.pk}:{run_scores_stamp(run=run)}"


def cached_run_scores(*, run: MatchRun) -> RunScores:
    """:func:`run_scores` through Django's cache (see the module docstring): the same numbers,
    computed once per run and stamp (per server process with the default local-memory cache)."""
    key = run_scores_cache_key(run=run)
    scores = cache.get(key)
    if scores is None:
        scores = run_scores(run=run)
        cache.set(key, scores, RUN_SCORES_CACHE_SECONDS)
    return scores


def routing_preview(
    *,
    run: MatchRun,
    accept: float | None,
    review: float | None,
    target_precision: float = routing.DEFAULT_TARGET_PRECISION,
    scores: RunScores | None = None,
) -> dict:
    """Thresholds (given or suggested), bands with counts and expected precision/recall, and the
    predicted P_hitl of the review band, from the run's labels or its model's calibration
    (routing.choose_source; ``source`` says which). Writes nothing.

    ``scores``: the run's scores when the caller has them (the triage page reads them from the
    cache, :func:`cached_run_scores`); else they are computed (:func:`run_scores`)."""
    if scores is None:
        scores = run_scores(run=run)
    sims, source, curve = scores.similarities, scores.source, scores.curve
    th = routing.resolve_thresholds(
        curve=curve,
        similarities=sims,
        accept=accept,
        review=review,
        target_precision=target_precision,
        curve_name="expected" if source.kind == routing.SOURCE_MODEL else "run's",
    )
    counts = routing.split_bands(sims, accept=th.accept, review=th.review)
    table = routing.band_table(curve=curve, counts=counts, accept=th.accept, review=th.review)
    lr, lr_source = measured_lr_plus(run=run)
    review_band = next(b for b in table if b["band"] == routing.REVIEW)
    p_model = review_band["precision"]
    p_hitl = quality.p_hitl(p_model, lr) if p_model is not None else None
    return {
        "accept": th.accept,
        "review": th.review if math.isfinite(th.review) else -1.0,
        "suggested": th.suggested,
        "reason": th.reason,
        "target_precision": target_precision,
        "bands": table,
        "n_queries": len(sims),
        "p_model": p_model,
        "lr_plus": lr,
        "lr_plus_source": lr_source,
        "p_hitl": p_hitl,
        "curve": curve,
        "source": source,
    }


def run_is_labelled(*, run: MatchRun, curve: routing.PRCurve | None = None) -> bool:
    """Whether the run's own labels give a PR curve: some query has a true match in the index.
    ``curve``: the run's curve when the caller has already read it."""
    n = (run.metrics or {}).get("n_queries_with_match")
    if n is not None:
        return n > 0
    if curve is None:
        curve = routing.PRCurve.from_json(run.pr_curve)
    return curve is not None and float(curve.recall.max()) > 0


def model_calibration(*, run: MatchRun) -> Calibration | None:
    """The calibration stored with the run's model (None: raw run, or not calibrated)."""
    if run.model_id is None:
        return None
    return Calibration.from_dict(run.model.calibration)


def routing_calibration(*, run: MatchRun) -> routing.ModelCalibration | None:
    """The run's model calibration in the form the pure routing module takes."""
    calibration = model_calibration(run=run)
    if calibration is None:
        return None
    return routing.ModelCalibration(
        model_id=run.model_id,
        top1_probability=calibration.predict_top1,
        recall_at_1=calibration.recall_at_1,
        n_queries=calibration.metrics.get("n_queries"),
        match_config=calibration.setup.get("match_config"),
    )


def reliability(*, run: MatchRun, n_bins: int = 10) -> dict | None:
    """Predicted vs observed top-1 precision of the run's decided rows (review and gold; not
    conflict rows).

    Predicted: the model's calibrated P(top-1 correct) at the row's top-1 similarity;
    observed: the validators' verdict chose the top-1 candidate. None for a run without a
    calibrated model; ``bins`` is empty while no row is decided.
    """
    calibration = model_calibration(run=run)
    if calibration is None:
        return None
    # whether the verdict is the top-1 candidate is decided in SQL (the rows' JSON lists are
    # not decoded in Python: a run may have 45,000 decided rows); rows in id order
    qs = (
        ReviewRow.objects.filter(run=run, status=ReviewRow.Status.DECIDED)
        .exclude(decision="")
        .exclude(kind=ReviewRow.Kind.CONFLICT)  # no top-1 score: they settle product conflicts
        .annotate(
            top1_chosen=Case(
                When(decision=KT("candidate_ids__0"), then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            )
        )
        .values_list("top1_similarity", "top1_chosen")
    )
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    scores = [r[0] for r in rows]
    observed = [bool(r[1]) for r in rows]
    predicted = calibration.predict_top1(scores) if rows else []
    bins = reliability_bins(predicted=predicted, observed=observed, n_bins=n_bins, scores=scores)
    return {
        "model_id": run.model_id,
        "n": len(rows),
        "bins": bins,
        "predicted": float(sum(predicted) / len(rows)) if rows else None,
        "observed": sum(observed) / len(rows) if rows else None,
    }


def row_progress(*, run: MatchRun) -> dict:
    """The run's rows by status: {"open": n, "decided": n, "closed": n}. Counted per status
    from the (run, status, ...) index alone (an index-only scan on PostgreSQL: the run may have
    45,000 rows)."""
    counts = dict(
        ReviewRow.objects.filter(run=run)
        .order_by()
        .values_list("status")
        .annotate(n=Count("*"))
        .values_list("status", "n")
    )
    return {
        "open": counts.get(ReviewRow.Status.OPEN, 0),
        "decided": counts.get(ReviewRow.Status.DECIDED, 0),
        "closed": counts.get(ReviewRow.Status.CLOSED, 0),
    }
