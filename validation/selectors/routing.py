"""Routing reads: the current routing of a run, a routing preview, row progress."""

from __future__ import annotations

import math

from django.db.models import Count, Q

from matching import selectors as matching_selectors
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
    predicted P_hitl of the review band. Writes nothing."""
    curve = routing.PRCurve.from_json(run.pr_curve)
    sims = matching_selectors.top1_similarities(run)
    th = routing.resolve_thresholds(
        curve=curve,
        similarities=sims,
        accept=accept,
        review=review,
        target_precision=target_precision,
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
    }


def row_progress(*, run: MatchRun) -> dict:
    qs = ReviewRow.objects.filter(run=run)
    return qs.aggregate(
        open=Count("id", filter=Q(status=ReviewRow.Status.OPEN)),
        decided=Count("id", filter=Q(status=ReviewRow.Status.DECIDED)),
        closed=Count("id", filter=Q(status=ReviewRow.Status.CLOSED)),
    )
