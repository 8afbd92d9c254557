"""Validator quality and the precision estimate (pure numpy, no ORM).

Rows with ground truth are classified by their (aggregated or single) outcome:

* positive row (one candidate is the true match): picking it is a TP; anything else (none, or a
  wrong candidate, counted apart as ``wrong_pick``) is a FN;
* negative row (no candidate matches): picking any candidate is a FP; "none" is a TN.

TPR = TP/(TP+FN), FNR = 1-TPR, TNR = TN/(TN+FP), FPR = 1-TNR, LR+ = TPR/FPR (inf when FPR=0).
Standard deviations by bootstrapping the rows (paper, Table 5). The report of one run over these
numbers is validation/quality_report.py.

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


def _resampled_counts(codes: np.ndarray, *, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, 4) counts of TP, FN, FP, TN in ``n_boot`` resamples (with replacement) of the
    rows. Drawing ``len(codes)`` rows with replacement and counting the outcomes is a multinomial
    draw with the observed shares, so the resamples cost O(n_boot), not O(n_boot x rows)."""
    shares = np.bincount(codes, minlength=4)[:4] / len(codes)
    return rng.multinomial(len(codes), shares, size=n_boot)


def bootstrap_rates(codes: Sequence[int], *, n_boot: int = 1000, seed: int = 0) -> dict[str, float]:
    """Bootstrap standard deviation of TPR, FNR, TNR, FPR and LR+ (resampling rows).

    Samples where a rate is undefined or infinite are left out of that rate's deviation.
    """
    codes = np.asarray(codes, dtype=int)
    keys = ("tpr", "fnr", "tnr", "fpr", "lr_plus")
    if len(codes) < 2:
        return dict.fromkeys(keys, math.nan)
    counts = _resampled_counts(codes, n_boot=n_boot, rng=np.random.default_rng(seed))
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


def forecast_lr_plus(tp: float, fn: float, fp: float, tn: float) -> float:
    """LR+ for the P_hitl forecast: TPR/FPR, with the Haldane-Anscombe correction (1/2 added to
    every cell) when a cell is zero. A small gold set often holds no false positive; its raw
    LR+ is infinite and would forecast P_hitl = 1 with no uncertainty."""
    if min(tp, fn, fp, tn) == 0:
        tp, fn, fp, tn = tp + 0.5, fn + 0.5, fp + 0.5, tn + 0.5
    return (tp / (tp + fn)) / (fp / (fp + tn))


def bootstrap_p_hitl(
    *,
    gold_codes: Sequence[int],
    band_positive: Sequence[bool] | None,
    p_model: float | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """P_hitl and its standard deviation.

    The point uses :func:`forecast_lr_plus` of the rows LR+ is measured on. Its uncertainty
    draws TPR and FPR from their Jeffreys posteriors, Beta(TP+1/2, FN+1/2) and
    Beta(FP+1/2, TN+1/2) (unlike resampling the rows, this keeps the uncertainty of a rate whose
    observed count is zero), and, if given, P_model as the positive share of a resample of the
    review-band rows.
    """
    codes = np.asarray(gold_codes, dtype=int)
    pos = None if band_positive is None else np.asarray(band_positive, dtype=bool)
    if pos is not None and len(pos):
        p_model = float(pos.mean())
    if p_model is None or len(codes) == 0:
        return math.nan, math.nan
    tp, fn, fp, tn = (float(c) for c in np.bincount(codes, minlength=4)[:4])
    point = p_hitl(p_model, forecast_lr_plus(tp, fn, fp, tn))
    rng = np.random.default_rng(seed)
    tpr = rng.beta(tp + 0.5, fn + 0.5, size=n_boot)
    fpr = rng.beta(fp + 0.5, tn + 0.5, size=n_boot)
    lr = tpr / fpr
    if pos is None or not len(pos):
        pm = np.full(n_boot, p_model)
    else:  # the share of positives in a resample of the band rows: binomial
        pm = rng.binomial(len(pos), p_model, size=n_boot) / len(pos)
    with np.errstate(divide="ignore", invalid="ignore"):  # as p_hitl, element-wise
        samples = 1.0 / (1.0 + (1.0 / pm - 1.0) / lr)
    samples = np.where(pm <= 0, 0.0, samples)
    return point, _std(samples)


def precision_with_std(correct: Sequence[bool], *, n_boot: int = 1000, seed: int = 0):
    """Observed precision (share of accepted matches that are correct) and its bootstrap std."""
    x = np.asarray(correct, dtype=float)
    if len(x) == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = rng.binomial(len(x), x.mean(), size=n_boot) / len(x)  # resampled share correct
    return float(x.mean()), _std(means)


# --------------------------------------------------------------------------- rows and judgements
#
# Rows and judgements as plain facts (the selectors load them) for the quality report
# (validation/quality_report.py) and the aggregation replay; string values are those of the
# ReviewRow choices.

GOLD_ROW, REVIEW_ROW = "gold", "review"
DECIDED = "decided"
TRUTH_UNKNOWN, TRUTH_MATCH = "unknown", "match"


@dataclass(frozen=True)
class RowFacts:
    pk: int
    kind: str
    status: str
    truth: str
    truth_offer_id: int | None
    decision: str  # a candidate offer id as string, "none", or "" (pending)
    candidate_ids: tuple[int, ...]


@dataclass(frozen=True)
class JudgementFacts:
    row_id: int
    validator: str
    choice: str
    seconds_spent: float


def answer_of(*, truth: str, truth_offer_id: int | None) -> str:
    """The right choice on a row with ground truth: the true candidate's id, or "none"."""
    return str(truth_offer_id) if truth == TRUTH_MATCH else "none"


def code_of(row: RowFacts, choice: str) -> int:
    """Outcome code (TP, FN, FP, TN) of a choice on a row with ground truth."""
    return outcome_code(
        truth_is_match=row.truth == TRUTH_MATCH,
        picked_true=choice == answer_of(truth=row.truth, truth_offer_id=row.truth_offer_id),
        picked_any=choice not in ("", "none"),
    )


def decided_codes(rows: Sequence[RowFacts]) -> list[int]:
    """Outcome codes of the aggregated decisions of decided rows with ground truth."""
    return [
        code_of(r, r.decision) for r in rows if r.status == DECIDED and r.truth != TRUTH_UNKNOWN
    ]
