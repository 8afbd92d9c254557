"""Routing by thresholds on the top-1 similarity (plain Python + numpy, no ORM).

Two parts: thresholds and bands (suggestions from the run's PR curve, expected precision per
band), and ``plan_routing``, which decides on plain facts what a routing does to a run's rows
and decisions (services/routing.py loads the facts and applies the plan).

Bands for a query with top-1 similarity ``s``:

* ``auto``    ``s >= accept`` (``accept is None``: no query is auto-accepted)
* ``review``  ``review <= s < accept``
* ``dropped`` ``s < review``

The precision-recall curve is the run's k=1 curve (matching/ml/metrics.py): arrays ordered by
decreasing threshold, ``precision[i]``/``recall[i]`` are those of the set of queries with
``similarity >= thresholds[i]``. Because ``recall = TP / n_with_match`` and
``predicted = TP / precision``, a band between two thresholds has

    precision_band = (r_lo - r_hi) / (r_lo / p_lo - r_hi / p_hi),  recall_band = r_lo - r_hi

(``n_with_match`` cancels). These are top-1 figures: the review page shows three candidates,
so the share of review rows holding a true match is at least the top-1 band precision.

Where the curve comes from (:func:`choose_source`): the run's own labels when its queries have
product ids with a match in the index; otherwise, for a run of a calibrated model, the
EXPECTED curve of :func:`calibrated_curve`: the model's calibration (P(top-1 correct | score),
fitted on its held-out split) applied to THIS run's top-1 similarities. Sorted by decreasing
similarity, the expected precision of the queries at or above a threshold is the mean
calibrated probability over them, and the expected recall is their summed probability over
the expected number of queries with a true match (summed probability over all queries divided
by the held-out R@1). Thresholds and bands then follow from that curve exactly as from a
labelled one. Otherwise (raw run, or a model without calibration) there is no curve and the
fallback applies: nothing auto-accepted, review above the 10th percentile.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

AUTO = "auto"
REVIEW = "review"
DROPPED = "dropped"
BANDS = (AUTO, REVIEW, DROPPED)

DEFAULT_TARGET_PRECISION = 0.99
# Suggested review threshold: the lowest threshold whose cumulative precision is at least this.
DEFAULT_MIN_REVIEW_PRECISION = 0.1
# Without a PR curve: review everything above this percentile of top-1 similarity.
FALLBACK_REVIEW_PERCENTILE = 10.0


@dataclass(frozen=True)
class PRCurve:
    precision: np.ndarray
    recall: np.ndarray
    thresholds: np.ndarray

    @classmethod
    def from_json(cls, data: dict | None) -> PRCurve | None:
        if not data or not data.get("thresholds"):
            return None
        p = np.asarray(data["precision"], dtype=float)
        r = np.asarray(data["recall"], dtype=float)
        t = np.asarray(data["thresholds"], dtype=float)
        if not (len(p) == len(r) == len(t)) or len(t) == 0:
            return None
        return cls(precision=p, recall=r, thresholds=t)

    def point_at(self, threshold: float | None) -> tuple[float, float]:
        """(recall, precision) of the queries with similarity >= threshold; (0, 1) if none."""
        if threshold is None:
            return 0.0, 1.0
        idx = np.flatnonzero(self.thresholds >= threshold)
        if len(idx) == 0:
            return 0.0, 1.0
        i = idx[-1]  # smallest curve threshold still >= threshold
        return float(self.recall[i]), float(self.precision[i])


SOURCE_RUN = "run"
SOURCE_MODEL = "model"
SOURCE_NONE = "none"


@dataclass(frozen=True)
class Source:
    """Where the routing figures come from: ``kind`` one of the SOURCE_* values, ``label`` a
    sentence for the page, ``notes`` caveats (e.g. scoring differs from the calibration's)."""

    kind: str
    label: str
    model_id: int | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelCalibration:
    """What routing needs of a model's calibration (the selector builds it from
    matching.ml.calibration.Calibration): ``top1_probability`` maps top-1 similarities to
    P(top-1 correct); ``recall_at_1``, ``n_queries``: of the held-out split; ``match_config``:
    the scoring the held-out split was matched with."""

    model_id: int
    top1_probability: Callable[[np.ndarray], np.ndarray]
    recall_at_1: float | None
    n_queries: int | None = None
    match_config: dict | None = None


def calibrated_curve(
    similarities: Sequence[float], *, calibration: ModelCalibration
) -> PRCurve | None:
    """The expected k=1 PR curve of a run from its model's calibration (module docstring)."""
    sim = np.asarray(similarities, dtype=np.float64)
    sim = sim[np.isfinite(sim)]
    if len(sim) == 0:
        return None
    sim = np.sort(sim)[::-1]
    prob = np.clip(np.asarray(calibration.top1_probability(sim), dtype=np.float64), 0.0, 1.0)
    tp = np.cumsum(prob)
    predicted = np.arange(1, len(sim) + 1)
    last = np.r_[np.flatnonzero(np.diff(sim) != 0), len(sim) - 1]
    precision = tp[last] / predicted[last]
    r1 = calibration.recall_at_1
    expected_with_match = tp[-1] / r1 if r1 else tp[-1]
    recall = tp[last] / expected_with_match if expected_with_match > 0 else np.zeros(len(last))
    return PRCurve(precision=precision, recall=np.minimum(recall, 1.0), thresholds=sim[last])


#: MatchConfig fields that choose how exactly the search runs, not how it scores (the same as
#: matching.ml.match_config.SEARCH_ONLY_FIELDS; this module is pure and imports no matching)
SEARCH_ONLY_FIELDS = frozenset(
    {"index_type", "unbranded_index", "ivf_min_comparisons", "ivf_nprobe"}
)


def scoring_differences(*, run_config: dict, calibration: ModelCalibration) -> list[str]:
    """Match parameters of the run that differ from those the calibration was scored with
    (``SEARCH_ONLY_FIELDS`` such as ``index_type`` are left out: an approximate index only
    loses neighbours)."""
    cal_config = calibration.match_config or {}
    keys = sorted(set(cal_config) & set(run_config) - set(SEARCH_ONLY_FIELDS))
    return [k for k in keys if run_config[k] != cal_config[k]]


def choose_source(
    *,
    labelled: bool,
    run_curve: PRCurve | None,
    calibration: ModelCalibration | None,
    model_id: int | None,
    run_config: dict,
    similarities: Sequence[float],
) -> tuple[Source, PRCurve | None]:
    """The curve routing uses and where it comes from (module docstring)."""
    if labelled and run_curve is not None:
        return Source(kind=SOURCE_RUN, label="this run's labels (product ids)"), run_curve
    if calibration is not None:
        model_id = calibration.model_id
        curve = calibrated_curve(similarities, calibration=calibration)
        n = calibration.n_queries
        notes = []
        diff = scoring_differences(run_config=run_config, calibration=calibration)
        if diff:
            notes.append(
                "this run's scoring differs from the calibration's in "
                + ", ".join(diff)
                + ": the expected figures may be off"
            )
        return (
            Source(
                kind=SOURCE_MODEL,
                label=f"model #{model_id}'s held-out evaluation ({n} held-out queries), "
                "applied to this run's scores",
                model_id=model_id,
                notes=tuple(notes),
            ),
            curve,
        )
    why = "a raw run" if model_id is None else f"model #{model_id} has no calibration"
    return (
        Source(
            kind=SOURCE_NONE,
            label=f"none: the run has no labels and is {why}; fallback thresholds "
            "(nothing auto-accepted, review above the 10th percentile)",
            model_id=model_id,
        ),
        None,
    )


@dataclass(frozen=True)
class Thresholds:
    accept: float | None
    review: float
    suggested: bool = False
    reason: str = ""


def band_of(similarity: float, *, accept: float | None, review: float) -> str:
    if accept is not None and similarity >= accept:
        return AUTO
    if similarity >= review:
        return REVIEW
    return DROPPED


def split_bands(
    similarities: Sequence[float], *, accept: float | None, review: float
) -> dict[str, int]:
    """Queries per band (as ``band_of``, vectorised: a run may have 90,000 queries)."""
    s = np.asarray(similarities, dtype=float)
    auto = s >= accept if accept is not None else np.zeros(len(s), dtype=bool)
    review_band = ~auto & (s >= review)
    counts = dict.fromkeys(BANDS, 0)
    counts[AUTO] = int(auto.sum())
    counts[REVIEW] = int(review_band.sum())
    counts[DROPPED] = len(s) - counts[AUTO] - counts[REVIEW]
    return counts


def suggest_accept(curve: PRCurve, *, target_precision: float) -> float | None:
    """Lowest threshold whose auto-accepted set has precision >= target (max recall)."""
    ok = np.flatnonzero(curve.precision >= target_precision)
    if len(ok) == 0:
        return None
    return float(curve.thresholds[ok[-1]])


def suggest_review(curve: PRCurve, *, min_precision: float = DEFAULT_MIN_REVIEW_PRECISION) -> float:
    ok = np.flatnonzero(curve.precision >= min_precision)
    if len(ok) == 0:
        return float(curve.thresholds[-1])
    return float(curve.thresholds[ok[-1]])


def fallback_thresholds(similarities: Sequence[float]) -> Thresholds:
    if len(similarities) == 0:
        return Thresholds(accept=None, review=-math.inf, suggested=True, reason="no queries")
    review = float(np.percentile(np.asarray(similarities, float), FALLBACK_REVIEW_PERCENTILE))
    return Thresholds(
        accept=None,
        review=review,
        suggested=True,
        reason="no PR curve: nothing auto-accepted, review above the 10th percentile",
    )


def resolve_thresholds(
    *,
    curve: PRCurve | None,
    similarities: Sequence[float],
    accept: float | None,
    review: float | None,
    target_precision: float = DEFAULT_TARGET_PRECISION,
    curve_name: str = "run's",
) -> Thresholds:
    """Given thresholds win; missing ones are suggested from the curve (or the fallback)."""
    if accept is not None and review is not None:
        return Thresholds(accept=accept, review=min(review, accept), reason="given")
    if curve is None:
        fb = fallback_thresholds(similarities)
        acc = accept if accept is not None else fb.accept
        rev = review if review is not None else fb.review
        if acc is not None:
            rev = min(rev, acc)
        return Thresholds(accept=acc, review=rev, suggested=True, reason=fb.reason)
    acc = accept if accept is not None else suggest_accept(curve, target_precision=target_precision)
    rev = review if review is not None else suggest_review(curve)
    if acc is not None:
        rev = min(rev, acc)
    return Thresholds(
        accept=acc,
        review=rev,
        suggested=True,
        reason=f"from the {curve_name} PR curve for target precision {target_precision:g}",
    )


def band_precision_recall(
    curve: PRCurve, *, hi: float | None, lo: float | None
) -> tuple[float | None, float]:
    """Expected top-1 precision and recall of queries with lo <= similarity < hi.

    ``hi=None``: no upper bound; ``lo=None``: no lower bound.
    """
    if hi is None:
        r_hi, p_hi = 0.0, 1.0
    else:
        # queries with similarity >= hi: strictly above the band
        r_hi, p_hi = curve.point_at(hi)
    if lo is None:
        r_lo, p_lo = float(curve.recall[-1]), float(curve.precision[-1])
    else:
        r_lo, p_lo = curve.point_at(lo)
    recall = max(r_lo - r_hi, 0.0)
    pred_lo = r_lo / p_lo if p_lo > 0 else 0.0
    pred_hi = r_hi / p_hi if p_hi > 0 else 0.0
    denom = pred_lo - pred_hi
    if denom <= 1e-12:
        return None, recall
    return min(max(recall / denom, 0.0), 1.0), recall


def band_table(
    *, curve: PRCurve | None, counts: dict[str, int], accept: float | None, review: float
) -> list[dict]:
    """Per band: number of queries, expected precision and recall (None when unknown)."""
    bounds = {AUTO: (None, accept), REVIEW: (accept, review), DROPPED: (review, None)}
    table = []
    for band in BANDS:
        hi, lo = bounds[band]
        precision = recall = None
        if curve is not None and not (band == AUTO and accept is None):
            precision, recall = band_precision_recall(curve, hi=hi, lo=lo)
        table.append(
            {"band": band, "n": counts.get(band, 0), "precision": precision, "recall": recall}
        )
    return table
