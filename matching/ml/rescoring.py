"""CSLS rescoring: cross-domain similarity local scaling (Conneau et al. 2018), halved.

``s(q, x) - (r_I(q) + r_Q(x)) / 2`` with ``r_I(q)`` the mean score of q's ``csls_k`` best index
offers and ``r_Q(x)`` the mean score of x's ``csls_k`` best queries: a hub (an offer close to
many others) loses, an isolated pair gains. Halving keeps the score on the cosine scale.
"""

from __future__ import annotations

import numpy as np


def csls_rescore(
    scores: np.ndarray,
    forward_k_scores: np.ndarray,
    reverse_k_scores: np.ndarray,
    *,
    columns: np.ndarray | None = None,
) -> np.ndarray:
    """Halved CSLS: ``scores[i, j] - (r_I[i] + r_Q[j]) / 2`` where ``r_I`` (``r_Q``) is the
    row mean of ``forward_k_scores`` (``reverse_k_scores``): each query's (index offer's) scores
    with its k best neighbours in the other shop. Non-finite entries are left out of the means
    (a row without any gives 0). ``scores`` is (n_q, n_x) or broadcastable.

    With ``columns`` (same shape as ``scores``), ``scores`` is a shortlist: ``scores[i, j]`` is
    the score of query i with the index offer of ``reverse_k_scores`` row ``columns[i, j]``
    (-1: none, left as it is; such entries should be -inf).
    """
    r_i = neighbourhood_mean(forward_k_scores)[:, None]
    r_q = neighbourhood_mean(reverse_k_scores)
    if columns is None:
        return scores - (r_i + r_q[None, :]) / 2
    return np.where(columns >= 0, scores - (r_i + r_q[np.maximum(columns, 0)]) / 2, scores)


def neighbourhood_mean(values: np.ndarray) -> np.ndarray:
    """Row means of the finite entries (float32; 0 for a row without any)."""
    values = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(values)
    total = np.where(ok, values, 0.0).sum(axis=1)
    return (total / np.maximum(ok.sum(axis=1), 1)).astype(np.float32)


def top_k_rows(values: np.ndarray, k: int) -> np.ndarray:
    """The k largest values of each row (unordered; all of them when a row is shorter)."""
    if values.shape[1] <= k:
        return values
    return -np.partition(-values, k - 1, axis=1)[:, :k]
