"""Retrieval metrics: R@k, the precision-recall curve at k=1, AUCPR, best F1, plots.

Definitions (paper, section "Metrics"):

* ``R@k``: share of queries with at least one true match whose k nearest neighbours contain one.
* PR curve at k=1: every query predicts its top-1 neighbour. For a similarity threshold ``t``
  the predicted queries are those with top-1 similarity ``>= t``;
  ``precision = correct / predicted`` and ``recall = correct / n_with_match`` where
  ``n_with_match`` counts queries that HAVE a true match in the index (a query without one that
  is predicted counts as a false positive). Thresholds are the distinct top-1 similarities in
  descending order (tied similarities cannot be separated and form one point).
* AUCPR: average-precision style area under that step curve,
  ``sum_i (r_i - r_{i-1}) * p_i`` over the points in order of decreasing threshold, ``r_0 = 0``
  (same convention as scikit-learn's ``average_precision_score``). Its maximum is the recall
  reached at the lowest threshold, i.e. R@1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np


def recall_at_k(*, retrieved: np.ndarray, relevant: Sequence[set[int]], k: int) -> float:
    """Share of queries with >= 1 relevant item whose first ``k`` retrieved items hit one.

    ``retrieved`` is (nq, >=k) of index positions (-1 = nothing). Returns NaN if no query has a
    relevant item.
    """
    retrieved = np.asarray(retrieved)
    if retrieved.shape[0] != len(relevant):
        raise ValueError("retrieved and relevant must have one row per query")
    hits = 0
    total = 0
    for row, rel in zip(retrieved[:, :k], relevant, strict=True):
        if not rel:
            continue
        total += 1
        hits += any(int(x) in rel for x in row if x >= 0)
    return hits / total if total else float("nan")


def pr_curve_at_1(
    *, top1_similarity: np.ndarray, top1_correct: np.ndarray, n_with_match: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and thresholds of the k=1 PR curve (see module docstring).

    Queries whose top-1 similarity is NaN or -inf (no neighbour) are never predicted. Arrays are
    ordered by decreasing threshold (increasing recall).
    """
    sim = np.asarray(top1_similarity, dtype=np.float64)
    correct = np.asarray(top1_correct, dtype=bool)
    if sim.shape != correct.shape:
        raise ValueError("top1_similarity and top1_correct must have the same shape")
    keep = np.isfinite(sim)
    sim, correct = sim[keep], correct[keep]
    order = np.argsort(-sim, kind="stable")
    sim, correct = sim[order], correct[order]
    tp = np.cumsum(correct)
    predicted = np.arange(1, len(sim) + 1)
    # last position of every group of tied similarities
    last = np.r_[np.flatnonzero(np.diff(sim) != 0), len(sim) - 1] if len(sim) else np.array([], int)
    precision = tp[last] / predicted[last]
    recall = tp[last] / n_with_match if n_with_match > 0 else np.zeros(len(last))
    return precision.astype(np.float64), recall.astype(np.float64), sim[last]


def aucpr(precision: np.ndarray, recall: np.ndarray) -> float:
    """Area under the step PR curve: ``sum_i (r_i - r_{i-1}) * p_i`` with ``r_0 = 0``."""
    precision = np.asarray(precision, dtype=np.float64)
    recall = np.asarray(recall, dtype=np.float64)
    if len(recall) == 0:
        return 0.0
    increments = np.diff(np.r_[0.0, recall])
    return float(np.sum(increments * precision))


def best_f1(
    precision: np.ndarray, recall: np.ndarray, thresholds: np.ndarray
) -> tuple[float, float]:
    """Maximum F1 over the points of a PR curve and the threshold that reaches it.

    Returns ``(0.0, inf)`` for an empty curve or one without correct predictions.
    """
    p = np.asarray(precision, dtype=np.float64)
    r = np.asarray(recall, dtype=np.float64)
    denom = p + r
    f1 = np.divide(2 * p * r, denom, out=np.zeros_like(denom), where=denom > 0)
    if len(f1) == 0 or f1.max() <= 0:
        return 0.0, float("inf")
    best = int(np.argmax(f1))
    return float(f1[best]), float(np.asarray(thresholds)[best])


def per_category_pr(
    *,
    categories: Sequence[str],
    top1_similarity: np.ndarray,
    top1_correct: np.ndarray,
    has_match: np.ndarray,
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, float]]:
    """PR curve and AUCPR per query category: ``category -> (precision, recall, thr, aucpr)``."""
    cats = np.asarray(categories, dtype=object)
    sim = np.asarray(top1_similarity)
    correct = np.asarray(top1_correct, dtype=bool)
    matched = np.asarray(has_match, dtype=bool)
    out: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, float]] = {}
    for cat in sorted(set(cats.tolist()), key=str):
        sel = cats == cat
        p, r, t = pr_curve_at_1(
            top1_similarity=sim[sel],
            top1_correct=correct[sel],
            n_with_match=int(matched[sel].sum()),
        )
        out[cat] = (p, r, t, aucpr(p, r))
    return out


def plot_pr_curves(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    path: str | Path,
    *,
    thresholds_to_mark: Mapping[str, tuple[float, float]] | None = None,
    title: str = "Precision-recall at k=1",
) -> Path:
    """Plot named ``(precision, recall)`` curves to ``path`` (PNG or SVG by extension).

    ``thresholds_to_mark`` maps a label to a ``(recall, precision)`` point to mark, e.g. the
    auto-accept threshold.
    """
    from matplotlib.figure import Figure  # no pyplot: no global state, safe in web workers

    path = Path(path)
    fig = Figure(figsize=(6, 5))
    ax = fig.subplots()
    for name, (precision, recall) in curves.items():
        p, r = np.asarray(precision), np.asarray(recall)
        ax.step(r, p, where="pre", label=f"{name} (AUCPR {aucpr(p, r):.3f})")
    for label, (r, p) in (thresholds_to_mark or {}).items():
        ax.plot([r], [p], "o")
        ax.annotate(label, (r, p), textcoords="offset points", xytext=(5, 5))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if curves:
        ax.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(path)
    return path
