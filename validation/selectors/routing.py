"""Routing reads: the current routing of a run, a routing preview, row progress."""

from __future__ import annotations

import math

from django.db.models import Count, Q

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


def routing_preview(
    *,
    run: MatchRun,
    accept: float | None,
    review: float | None,
    target_precision: float = routing.DEFAULT_TARGET_PRECISION,
) -> dict:
    """Thresholds (given or suggested), bands with counts and expected precision/recall, and the
    predicted P_hitl of the review band, from the run's labels or its model's calibration
    (routing.choose_source; ``source`` says which). Writes nothing."""
    sims = matching_selectors.top1_similarities(run)
    source, curve = routing.choose_source(
        labelled=run_is_labelled(run=run),
        run_curve=routing.PRCurve.from_json(run.pr_curve),
        calibration=routing_calibration(run=run),
        model_id=run.model_id,
        run_config=run.config or {},
        similarities=sims,
    )
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


def run_is_labelled(*, run: MatchRun) -> bool:
    """Whether the run's own labels give a PR curve: some query has a true match in the index."""
    n = (run.metrics or {}).get("n_queries_with_match")
    if n is not None:
        return n > 0
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
    rows = list(
        ReviewRow.objects.filter(run=run, status=ReviewRow.Status.DECIDED)
        .exclude(decision="")
        .exclude(kind=ReviewRow.Kind.CONFLICT)  # no top-1 score: they settle product conflicts
        .values_list("top1_similarity", "candidate_ids", "decision")
    )
    scores = [r[0] for r in rows]
    observed = [bool(r[1]) and r[2] == str(r[1][0]) for r in rows]
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
    qs = ReviewRow.objects.filter(run=run)
    return qs.aggregate(
        open=Count("id", filter=Q(status=ReviewRow.Status.OPEN)),
        decided=Count("id", filter=Q(status=ReviewRow.Status.DECIDED)),
        closed=Count("id", filter=Q(status=ReviewRow.Status.CLOSED)),
    )
