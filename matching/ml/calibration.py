"""Calibration of top-1 similarities: P(the query's top-1 / top-k holds its true match | score).

Plain library (numpy + scikit-learn, no Django). Training holds out a share of the products
(:func:`holdout_split`, lone offers included so the share of queries WITHOUT a true match looks
like production), matches that split with the run's retrieval, and fits
:func:`fit_calibration` on the result: two isotonic regressions (scikit-learn's
``IsotonicRegression``, monotone non-decreasing, clipped to [0, 1]) of "top-1 correct" and "a
true match among the top-k" on the top-1 similarity, plus the held-out PR curve and metrics.

The fitted maps are stored as their breakpoints (:class:`IsotonicMap`), so a
:class:`Calibration` is plain JSON (``to_dict`` / ``from_dict``) that fits a JSONField and is
applied with ``np.interp`` (linear between breakpoints, clipped outside: exactly what
``IsotonicRegression.predict`` does with ``out_of_bounds="clip"``), without pickles.

:func:`reliability_bins` compares predicted probabilities with observed outcomes (e.g. human
verdicts) per probability bin: the reliability plot.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from matching.ml import metrics as ml_metrics
from matching.ml.grouping import group_by_product

#: Default share of products held out of training for calibration.
DEFAULT_CALIBRATION_SHARE = 0.2
#: Fewer held-out queries than this: no calibration is stored (too few to fit).
MIN_CALIBRATION_QUERIES = 20
FORMAT_VERSION = 1


@dataclass(frozen=True)
class IsotonicMap:
    """A monotone non-decreasing map score -> probability, by its breakpoints."""

    x: tuple[float, ...]
    y: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y) or not self.x:
            raise ValueError("an isotonic map needs as many x as y breakpoints, at least one")
        if any(b < a for a, b in zip(self.x, self.x[1:], strict=False)):
            raise ValueError("isotonic map breakpoints must be sorted by score")
        if any(b < a - 1e-12 for a, b in zip(self.y, self.y[1:], strict=False)):
            raise ValueError("isotonic map values must be non-decreasing")

    def predict(self, scores: Sequence[float] | np.ndarray) -> np.ndarray:
        """Probabilities for ``scores`` (linear between breakpoints, clipped outside)."""
        s = np.asarray(scores, dtype=np.float64)
        return np.clip(np.interp(s, self.x, self.y), 0.0, 1.0)

    def to_dict(self) -> dict[str, list[float]]:
        return {"x": [float(v) for v in self.x], "y": [float(v) for v in self.y]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IsotonicMap:
        return cls(x=tuple(float(v) for v in data["x"]), y=tuple(float(v) for v in data["y"]))


def fit_isotonic(scores: Sequence[float] | np.ndarray, outcomes: Sequence[bool]) -> IsotonicMap:
    """Isotonic regression of 0/1 ``outcomes`` on ``scores`` (non-finite scores are skipped)."""
    from sklearn.isotonic import IsotonicRegression

    s = np.asarray(scores, dtype=np.float64)
    o = np.asarray(outcomes, dtype=np.float64)
    if s.shape != o.shape:
        raise ValueError("scores and outcomes must have the same shape")
    keep = np.isfinite(s)
    s, o = s[keep], o[keep]
    if len(s) == 0:
        raise ValueError("no finite scores to calibrate on")
    reg = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    reg.fit(s, o)
    return IsotonicMap(
        x=tuple(float(v) for v in reg.X_thresholds_), y=tuple(float(v) for v in reg.y_thresholds_)
    )


@dataclass(frozen=True)
class Calibration:
    """What a model's held-out evaluation says about its scores (see the module docstring).

    ``top1``: P(top-1 is a true match | top-1 similarity); ``topk``: P(a true match among the
    ``k`` candidates | top-1 similarity). ``metrics``: held-out counts, R@1/R@k, AUCPR, Brier
    score and expected calibration error of ``top1``. ``pr_curve``: the held-out k=1 PR curve
    (lists ``precision``, ``recall``, ``thresholds``). ``setup``: how the split was scored
    (retrieval parameters, shops), for the record.
    """

    top1: IsotonicMap
    topk: IsotonicMap
    k: int
    metrics: dict[str, Any] = field(default_factory=dict)
    pr_curve: dict[str, list[float]] = field(default_factory=dict)
    setup: dict[str, Any] = field(default_factory=dict)

    def predict_top1(self, scores: Sequence[float] | np.ndarray) -> np.ndarray:
        return self.top1.predict(scores)

    def predict_topk(self, scores: Sequence[float] | np.ndarray) -> np.ndarray:
        return self.topk.predict(scores)

    @property
    def recall_at_1(self) -> float | None:
        """Held-out R@1: share of queries with a true match whose top-1 holds it."""
        value = self.metrics.get("R@1")
        return float(value) if value is not None else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "top1": self.top1.to_dict(),
            "topk": self.topk.to_dict(),
            "k": self.k,
            "metrics": _jsonable(self.metrics),
            "pr_curve": _jsonable(self.pr_curve),
            "setup": _jsonable(self.setup),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Calibration | None:
        """The calibration stored by :meth:`to_dict`; None for an empty / missing one."""
        if not data or "top1" not in data:
            return None
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"unknown calibration format {data.get('version')!r}")
        return cls(
            top1=IsotonicMap.from_dict(data["top1"]),
            topk=IsotonicMap.from_dict(data["topk"]),
            k=int(data["k"]),
            metrics=dict(data.get("metrics") or {}),
            pr_curve=dict(data.get("pr_curve") or {}),
            setup=dict(data.get("setup") or {}),
        )


def fit_calibration(
    *,
    top1_similarity: Sequence[float] | np.ndarray,
    top1_correct: Sequence[bool],
    topk_correct: Sequence[bool],
    has_match: Sequence[bool],
    k: int,
    setup: Mapping[str, Any] | None = None,
    n_bins: int = 10,
) -> Calibration:
    """Fit the calibration on one scored held-out split (one entry per query).

    ``top1_correct``: the top-1 candidate is a true match; ``topk_correct``: one of the k
    candidates is; ``has_match``: the query has a true match in the index at all (a lone query
    has none and can only be a false positive). Queries without a finite top-1 similarity (no
    neighbour) are left out of the fit but count in ``n_queries``.
    """
    sim = np.asarray(top1_similarity, dtype=np.float64)
    c1 = np.asarray(top1_correct, dtype=bool)
    ck = np.asarray(topk_correct, dtype=bool) | c1
    matched = np.asarray(has_match, dtype=bool)
    if not (sim.shape == c1.shape == ck.shape == matched.shape):
        raise ValueError("one similarity, outcome and has_match per query")
    finite = np.isfinite(sim)
    if int(finite.sum()) == 0:
        raise ValueError("no query with a neighbour to calibrate on")
    top1 = fit_isotonic(sim[finite], c1[finite])
    topk = fit_isotonic(sim[finite], ck[finite])
    n_with_match = int(matched.sum())
    precision, recall, thresholds = ml_metrics.pr_curve_at_1(
        top1_similarity=sim, top1_correct=c1, n_with_match=n_with_match
    )
    predicted = top1.predict(sim[finite])
    metrics = {
        "n_queries": len(sim),
        "n_fitted": int(finite.sum()),
        "n_with_match": n_with_match,
        "base_rate": n_with_match / len(sim),
        "R@1": float(c1[matched].mean()) if n_with_match else None,
        f"R@{k}": float(ck[matched].mean()) if n_with_match else None,
        "AUCPR": ml_metrics.aucpr(precision, recall),
        "brier": float(np.mean((predicted - c1[finite]) ** 2)),
        "ece": expected_calibration_error(predicted, c1[finite], n_bins=n_bins),
    }
    curve = {
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "thresholds": thresholds.tolist(),
    }
    return Calibration(
        top1=top1, topk=topk, k=int(k), metrics=metrics, pr_curve=curve, setup=dict(setup or {})
    )


def reliability_bins(
    *,
    predicted: Sequence[float] | np.ndarray,
    observed: Sequence[bool],
    n_bins: int = 10,
    scores: Sequence[float] | np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Predicted vs observed per equal-width bin of predicted probability over [0, 1].

    One entry per non-empty bin: ``lo``/``hi`` (probability bounds), ``n``, ``predicted`` (mean
    predicted probability), ``observed`` (share of positive outcomes) and, when ``scores`` are
    given, ``score_lo``/``score_hi`` (the range of scores in the bin).
    """
    if n_bins < 1:
        raise ValueError("n_bins must be >= 1")
    p = np.asarray(predicted, dtype=np.float64)
    o = np.asarray(observed, dtype=bool)
    if p.shape != o.shape:
        raise ValueError("predicted and observed must have the same shape")
    s = None if scores is None else np.asarray(scores, dtype=np.float64)
    if s is not None and s.shape != p.shape:
        raise ValueError("scores must have one entry per prediction")
    which = np.minimum((np.clip(p, 0, 1) * n_bins).astype(int), n_bins - 1)
    out = []
    for b in range(n_bins):
        sel = which == b
        if not sel.any():
            continue
        entry: dict[str, Any] = {
            "lo": b / n_bins,
            "hi": (b + 1) / n_bins,
            "n": int(sel.sum()),
            "predicted": float(p[sel].mean()),
            "observed": float(o[sel].mean()),
        }
        if s is not None:
            entry["score_lo"], entry["score_hi"] = float(s[sel].min()), float(s[sel].max())
        out.append(entry)
    return out


def expected_calibration_error(
    predicted: Sequence[float] | np.ndarray, observed: Sequence[bool], *, n_bins: int = 10
) -> float:
    """Mean |observed - predicted| over probability bins, weighted by bin size."""
    bins = reliability_bins(predicted=predicted, observed=observed, n_bins=n_bins)
    total = sum(b["n"] for b in bins)
    if total == 0:
        return float("nan")
    return float(sum(b["n"] * abs(b["observed"] - b["predicted"]) for b in bins) / total)


def holdout_split(
    product_ids: Sequence[Hashable | None], *, share: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(kept offer indices, held-out offer indices): ``share`` of the products, each with ALL
    its offers, drawn at random (``seed``). Lone offers (no product id, or the only offer of
    their product) are products too, so the held-out split has production's share of queries
    without a true match."""
    if not 0.0 <= share < 1.0:
        raise ValueError("the calibration share must be in [0, 1)")
    units = group_by_product(product_ids)
    n_out = round(share * len(units))
    rng = np.random.default_rng(seed)
    chosen = rng.permutation(len(units))[:n_out]
    held = np.sort(np.concatenate([units[i] for i in chosen])) if n_out else np.zeros(0, int)
    mask = np.ones(len(product_ids), dtype=bool)
    mask[held] = False
    return np.flatnonzero(mask), held.astype(np.int64)


def _jsonable(value):
    """Plain JSON: NaN/inf -> None, numpy scalars -> Python."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
