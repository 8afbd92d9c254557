"""Validator quality and the precision estimate (pure numpy, no ORM).

Rows with ground truth are classified by their (aggregated or single) outcome:

* positive row (one candidate is the true match): picking it is a TP; anything else (none, or a
  wrong candidate, counted apart as ``wrong_pick``) is a FN;
* negative row (no candidate matches): picking any candidate is a FP; "none" is a TN.

TPR = TP/(TP+FN), FNR = 1-TPR, TNR = TN/(TN+FP), FPR = 1-TNR, LR+ = TPR/FPR (inf when FPR=0).
Standard deviations by bootstrapping the rows (paper, Table 5).

Predicted output precision of human-in-the-loop review for an input (model) precision P:

    P_hitl = 1 / (1 + (1/P - 1) / LR+)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

# outcome codes per row
TP, FN, FP, TN = 0, 1, 2, 3


def outcome_code(*, truth_is_match: bool, picked_true: bool, picked_any: bool) -> int:
    if truth_is_match:
        return TP if picked_true else FN
    return FP if picked_any else TN


@dataclass(frozen=True)
class Rates:
    n: int
    tp: int
    fn: int
    fp: int
    tn: int
    tpr: float
    fnr: float
    tnr: float
    fpr: float
    lr_plus: float

    def as_dict(self) -> dict:
        return asdict(self)


def _div(a: float, b: float) -> float:
    return a / b if b else math.nan


def rates_from_counts(tp: int, fn: int, fp: int, tn: int) -> Rates:
    tpr = _div(tp, tp + fn)
    tnr = _div(tn, tn + fp)
    fpr = _div(fp, tn + fp)
    if math.isnan(tpr) or math.isnan(fpr):
        lr = math.nan
    elif fpr == 0:
        lr = math.inf if tpr > 0 else math.nan
    else:
        lr = tpr / fpr
    return Rates(
        n=tp + fn + fp + tn,
        tp=tp,
        fn=fn,
        fp=fp,
        tn=tn,
        tpr=tpr,
        fnr=1 - tpr if not math.isnan(tpr) else math.nan,
        tnr=tnr,
        fpr=fpr,
        lr_plus=lr,
    )


def confusion(codes: Sequence[int]) -> Rates:
    c = np.bincount(np.asarray(codes, dtype=int), minlength=4) if len(codes) else np.zeros(4, int)
    return rates_from_counts(int(c[TP]), int(c[FN]), int(c[FP]), int(c[TN]))


def _std(values: np.ndarray) -> float:
    v = values[np.isfinite(values)]
    return float(np.std(v, ddof=1)) if len(v) > 1 else math.nan


def bootstrap_rates(codes: Sequence[int], *, n_boot: int = 1000, seed: int = 0) -> dict[str, float]:
    """Bootstrap standard deviation of TPR, FNR, TNR, FPR and LR+ (resampling rows).

    Samples where a rate is undefined or infinite are left out of that rate's deviation.
    """
    codes = np.asarray(codes, dtype=int)
    keys = ("tpr", "fnr", "tnr", "fpr", "lr_plus")
    if len(codes) < 2:
        return dict.fromkeys(keys, math.nan)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(codes), size=(n_boot, len(codes)))
    counts = np.stack([(codes[idx] == k).sum(axis=1) for k in (TP, FN, FP, TN)], axis=1)
    tp, fn, fp, tn = (counts[:, i].astype(float) for i in range(4))
    with np.errstate(divide="ignore", invalid="ignore"):
        tpr = tp / (tp + fn)
        tnr = tn / (tn + fp)
        fpr = fp / (tn + fp)
        lr = tpr / fpr
    return {
        "tpr": _std(tpr),
        "fnr": _std(1 - tpr),
        "tnr": _std(tnr),
        "fpr": _std(fpr),
        "lr_plus": _std(lr),
    }


def p_hitl(p_model: float, lr_plus: float) -> float:
    """Predicted output precision after review: 1 / (1 + (1/P_model - 1) / LR+)."""
    if not 0 < p_model <= 1:
        return math.nan if p_model != 0 else 0.0
    if math.isnan(lr_plus) or lr_plus <= 0:
        return math.nan
    if math.isinf(lr_plus):
        return 1.0
    return 1.0 / (1.0 + (1.0 / p_model - 1.0) / lr_plus)


def bootstrap_p_hitl(
    *,
    gold_codes: Sequence[int],
    band_positive: Sequence[bool] | None,
    p_model: float | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """P_hitl and its bootstrap std, resampling the rows LR+ is measured on and (if given)
    the review-band rows whose positive share is P_model."""
    codes = np.asarray(gold_codes, dtype=int)
    pos = None if band_positive is None else np.asarray(band_positive, dtype=bool)
    if pos is not None and len(pos):
        p_model = float(pos.mean())
    if p_model is None or len(codes) == 0:
        return math.nan, math.nan
    point = p_hitl(p_model, confusion(codes).lr_plus)
    rng = np.random.default_rng(seed)
    samples = np.empty(n_boot)
    for b in range(n_boot):
        c = codes[rng.integers(0, len(codes), len(codes))]
        pm = (
            p_model
            if pos is None or not len(pos)
            else pos[rng.integers(0, len(pos), len(pos))].mean()
        )
        samples[b] = p_hitl(float(pm), confusion(c).lr_plus)
    return point, _std(samples)


def precision_with_std(correct: Sequence[bool], *, n_boot: int = 1000, seed: int = 0):
    """Observed precision (share of accepted matches that are correct) and its bootstrap std."""
    x = np.asarray(correct, dtype=float)
    if len(x) == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(n_boot, len(x)))].mean(axis=1)
    return float(x.mean()), _std(means)


def fleiss_kappa(table: np.ndarray) -> float:
    """Fleiss' kappa for an (items x categories) table of rating counts.

    Items may have different numbers of raters (>= 2; items with fewer are ignored): per-item
    agreement is ``(sum_j n_ij^2 - n_i) / (n_i (n_i - 1))`` and the category shares are pooled
    over all ratings. With equal raters per item this is the textbook statistic.
    """
    t = np.asarray(table, dtype=float)
    if t.ndim != 2 or t.size == 0:
        return math.nan
    n_i = t.sum(axis=1)
    t, n_i = t[n_i >= 2], n_i[n_i >= 2]
    if len(t) == 0:
        return math.nan
    p_i = ((t**2).sum(axis=1) - n_i) / (n_i * (n_i - 1))
    p_bar = p_i.mean()
    p_j = t.sum(axis=0) / n_i.sum()
    p_e = (p_j**2).sum()
    if p_e >= 1:
        return 1.0 if p_bar >= 1 else math.nan
    return float((p_bar - p_e) / (1 - p_e))
