"""Evaluation of a retrieval against ground truth, from arrays (paper §3.6).

Used by the matching service (stored with every match run), the benchmark and the experiment
scripts under ``bench/``: one definition of R@k, the PR curve at k=1, AUCPR, best F1 and the
per-category AUCPR. Inputs are plain sequences: the product id of every query and index offer
(empty / None = unknown), and the search result (``indices`` (nq, k) index positions, -1 =
none; ``similarities`` (nq, k)).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from matching.ml import metrics as ml_metrics

#: R@k reported for every k up to the run's k.
RECALL_KS = (1, 3, 10)
#: Points of a PR curve kept when it is stored (see :func:`thin_curve`).
MAX_PR_POINTS = 2000
NO_CATEGORY = "(none)"


@dataclass
class Evaluation:
    """``metrics``: JSON-ready numbers; ``curve``: the k=1 PR curve as lists; ``per_category``:
    category -> (precision, recall, thresholds, AUCPR) arrays; ``true_pairs``: every
    (query position, index position) with the same product id."""

    metrics: dict[str, Any]
    curve: dict[str, list[float]]
    per_category: dict[str, tuple] = field(default_factory=dict)
    true_pairs: list[tuple[int, int]] = field(default_factory=list)


def relevant_positions(
    *, query_product_ids: Sequence[str | None], index_product_ids: Sequence[str | None]
) -> list[set[int]]:
    """For every query, the index positions that show the same product."""
    positions: dict[str, set[int]] = defaultdict(set)
    for i, pid in enumerate(index_product_ids):
        if pid:
            positions[str(pid)].add(i)
    return [set(positions.get(str(pid), ())) if pid else set() for pid in query_product_ids]


def evaluate(
    *,
    query_product_ids: Sequence[str | None],
    index_product_ids: Sequence[str | None],
    indices: np.ndarray,
    similarities: np.ndarray,
    k: int,
    query_categories: Sequence[str | None] | None = None,
) -> Evaluation:
    """R@k (k in :data:`RECALL_KS` up to ``k``), AUCPR and best F1 at k=1, and, when
    ``query_categories`` are given, AUCPR per category."""
    nq = len(query_product_ids)
    relevant = relevant_positions(
        query_product_ids=query_product_ids, index_product_ids=index_product_ids
    )
    has_match = np.array([bool(r) for r in relevant], dtype=bool)
    n_with_match = int(has_match.sum())
    indices = np.asarray(indices)
    top1 = indices[:, 0] if nq else np.zeros(0, dtype=np.int64)
    top1_sim = np.asarray(similarities)[:, 0] if nq else np.zeros(0, dtype=np.float32)
    top1_correct = np.array([int(i) in rel for i, rel in zip(top1, relevant, strict=True)])
    precision, recall, thresholds = ml_metrics.pr_curve_at_1(
        top1_similarity=top1_sim, top1_correct=top1_correct, n_with_match=n_with_match
    )
    f1, f1_threshold = ml_metrics.best_f1(precision, recall, thresholds)
    metrics: dict[str, Any] = {
        "n_queries": nq,
        "n_index": len(index_product_ids),
        "n_queries_with_match": n_with_match,
        "AUCPR": ml_metrics.aucpr(precision, recall),
        "best_F1": f1,
        "best_F1_threshold": f1_threshold,
    }
    for at in RECALL_KS:
        if at <= k:
            metrics[f"R@{at}"] = ml_metrics.recall_at_k(retrieved=indices, relevant=relevant, k=at)
    per_category: dict[str, tuple] = {}
    if query_categories is not None:
        categories = [c or NO_CATEGORY for c in query_categories]
        per_category = ml_metrics.per_category_pr(
            categories=categories,
            top1_similarity=top1_sim,
            top1_correct=top1_correct,
            has_match=has_match,
        )
        sizes: dict[str, int] = defaultdict(int)
        for c in categories:
            sizes[c] += 1
        metrics["per_category"] = {
            cat: {"AUCPR": value[3], "n_queries": sizes[cat]} for cat, value in per_category.items()
        }
    curve = {
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "thresholds": thresholds.tolist(),
    }
    true_pairs = [(q, i) for q, rel in enumerate(relevant) for i in sorted(rel)]
    return Evaluation(
        metrics=metrics, curve=curve, per_category=per_category, true_pairs=true_pairs
    )


def thin_curve(curve: dict[str, list], max_points: int = MAX_PR_POINTS) -> dict[str, list]:
    """At most ``max_points`` evenly spaced points of a curve (the last one always kept)."""
    n = len(curve["recall"])
    if n <= max_points:
        return curve
    keep = np.unique(np.r_[np.linspace(0, n - 1, max_points).astype(int), n - 1])
    return {key: [values[i] for i in keep] for key, values in curve.items()}


def format_pct(value: float | None) -> str:
    """A fraction as a percentage with one decimal; "-" for a missing value (None)."""
    if value is None:
        return "-"
    return f"{100 * value:.1f}"


def jsonable(value):
    """Plain JSON: NaN/inf -> None, numpy scalars -> Python (PostgreSQL jsonb rejects NaN)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
