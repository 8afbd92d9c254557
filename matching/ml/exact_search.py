"""Exact top-k by inner product: chunked matrix products, ties going to the lower row.

The index is scanned in chunks of ``MAX_SCORES // queries`` rows. Within a chunk the ``w`` best
of a long row are found by a sampled threshold (the w-th best of the first columns bounds the
row's w-th best from below, so only the scores reaching it are sorted); after the first chunk
only scores above a query's current w-th best are kept and merged. The result equals a stable
sort of the whole row by decreasing score.
"""

from __future__ import annotations

import numpy as np

#: Most scores held at once by an exact search (floats): bounds the memory of one product.
MAX_SCORES = 1 << 21
#: Rows of at least this many times w columns are cut by a sampled threshold before sorting.
SAMPLED_TOP_FACTOR = 16
#: Queries multiplied at once by an exact search (at most).
MAX_QUERY_ROWS = 512


def exact_top(qv: np.ndarray, xv: np.ndarray, w: int):
    """Yield (query slice, local index rows (m, w'), scores (m, w')): the w best rows of
    ``xv`` per query, exact, ties broken by the lower row. The index is scanned in chunks;
    after the first, only scores above a query's current w-th best are kept and merged."""
    n = len(xv)
    q_step = max(1, min(len(qv), MAX_QUERY_ROWS))
    x_step = max(w + 1, MAX_SCORES // q_step)
    for qs in range(0, len(qv), q_step):
        qc = qv[qs : qs + q_step]
        cols, top = _top_w(qc @ xv[:x_step].T, w)
        cols, top = np.array(cols), np.array(top)
        for xs in range(x_step, n, x_step):
            scores = qc @ xv[xs : xs + x_step].T
            r, c = np.nonzero(scores > top.min(axis=1)[:, None])
            if len(r):
                _merge_rows(cols, top, r, c + xs, scores[r, c])
        yield slice(qs, qs + len(qc)), cols, top


def _merge_rows(
    cols: np.ndarray, top: np.ndarray, rows: np.ndarray, new_cols: np.ndarray, new: np.ndarray
) -> None:
    """In place: the w best of each row's (cols, top) and its new (col, score) entries (ties:
    the lower column)."""
    touched = np.unique(rows)
    w = cols.shape[1]
    pos = np.searchsorted(touched, rows)
    all_rows = np.concatenate([np.repeat(np.arange(len(touched)), w), pos])
    all_cols = np.concatenate([cols[touched].ravel(), new_cols])
    all_vals = np.concatenate([top[touched].ravel(), new])
    order = np.lexsort((all_cols, -all_vals, all_rows))
    all_rows, all_cols, all_vals = all_rows[order], all_cols[order], all_vals[order]
    rank = np.arange(len(all_rows)) - np.searchsorted(all_rows, all_rows, side="left")
    keep = rank < w
    cols[touched[all_rows[keep]], rank[keep]] = all_cols[keep]
    top[touched[all_rows[keep]], rank[keep]] = all_vals[keep]


def _top_w(scores: np.ndarray, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the columns of the ``w`` largest scores (ties: the lower column), unordered."""
    m, n = scores.shape
    if n <= w:
        return np.broadcast_to(np.arange(n), (m, n)), scores
    if n >= SAMPLED_TOP_FACTOR * w:
        # the w-th best of the first columns is a lower bound of the row's w-th best: keep
        # the scores that reach it (few), then order only those
        sample = max(4 * w, n // SAMPLED_TOP_FACTOR)
        kth = np.partition(scores[:, :sample], sample - w, axis=1)[:, sample - w]
        r, c = np.nonzero(scores >= kth[:, None])
        v = scores[r, c]
        order = np.lexsort((c, -v, r))
        r, c, v = r[order], c[order], v[order]
        rank = np.arange(len(r)) - np.searchsorted(r, r, side="left")
        keep = rank < w
        cols = np.empty((m, w), dtype=np.int64)
        top = np.empty((m, w), dtype=scores.dtype)
        cols[r[keep], rank[keep]] = c[keep]
        top[r[keep], rank[keep]] = v[keep]
        return cols, top
    # one partial sort places both the w-th and the (w+1)-th largest score
    part = np.argpartition(scores, (n - w - 1, n - w), axis=1)
    cols = part[:, n - w :]
    top = np.take_along_axis(scores, cols, axis=1)
    below = np.take_along_axis(scores, part[:, n - w - 1 : n - w], axis=1)[:, 0]
    # a tie at the boundary: the partial sort may have kept any of the tied columns
    for r in np.flatnonzero(below >= top.min(axis=1)):
        cols[r] = np.argsort(-scores[r], kind="stable")[:w]
        top[r] = scores[r, cols[r]]
    return cols, top
