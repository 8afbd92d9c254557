"""Exact top-k by inner product: chunked matrix products, ties going to the lower row.

The index is scanned in chunks of ``min(MAX_INDEX_ROWS, MAX_SCORES // queries)`` rows (a wider
product of few queries runs slower: its scores leave the cache). The first chunk's ``w`` best
of each row are found with one partition (their value is the row's threshold); after it, only
scores above a query's current w-th best are kept, collected over several chunks and merged
(which raises the threshold) once they reach ``MERGE_FACTOR`` times the rows' ``w``. The
result equals a stable sort of the whole row by decreasing score.

Ordering uses :func:`row_value_keys` (one int64 per entry: row ascending, then value
descending) and one ``argsort`` instead of ``np.lexsort`` (about 10x faster here).

The searches of a blocked search (:func:`search_blocks`, one :func:`block_top` each) are
mostly small: a search of at most ``w`` index rows keeps every pair, one that fits one product
needs no sort unless a score ties a row's w-th best, and searches under
``SMALL_SEARCH_PAIRS`` pairs run with one BLAS thread. :func:`in_background` runs other work
(the unbranded searches) on a worker thread meanwhile.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import numpy as np

#: Most scores held at once by an exact search (floats): bounds the memory of one product.
MAX_SCORES = 1 << 21
#: Queries multiplied at once by an exact search (at most).
MAX_QUERY_ROWS = 512
#: Index rows multiplied at once (at most): wider products of few queries are slower.
MAX_INDEX_ROWS = 8192
#: Entries above the thresholds are merged once they reach this many times rows x w.
MERGE_FACTOR = 2


def row_value_keys(rows: np.ndarray, vals: np.ndarray) -> np.ndarray:
    """int64 sort keys: ``rows`` ascending (0 <= row < 2**31), then float32 ``vals``
    descending, exactly (the float's bits made monotone; -0.0 counts as 0.0, as in a
    comparison). Equal keys are equal (row, value) pairs."""
    if vals.dtype != np.float32:
        raise TypeError(f"float32 values expected, got {vals.dtype}")
    bits = (vals + np.float32(0.0)).view(np.int32)
    mono = np.where(bits < 0, bits ^ np.int32(0x7FFFFFFF), bits).astype(np.int64)
    return (np.asarray(rows, dtype=np.int64) << 32) - mono


def order_by_row_value(rows: np.ndarray, vals: np.ndarray, ties: np.ndarray) -> np.ndarray:
    """The permutation sorting entries by row ascending, value (float32) descending, then
    ``ties`` ascending: the same as ``np.lexsort((ties, -vals, rows))``, faster."""
    if vals.dtype != np.float32:
        return np.lexsort((ties, -vals, rows))
    keys = row_value_keys(rows, vals)
    order = np.argsort(keys)  # not stable: runs of equal keys are ordered below
    sorted_keys = keys[order]
    same = sorted_keys[1:] == sorted_keys[:-1]
    if same.any():
        # runs of equal (row, value): order the entries of each run by ``ties``
        in_run = np.r_[same, False] | np.r_[False, same]
        pos = np.flatnonzero(in_run)
        run = np.cumsum(np.r_[True, ~same])[pos]
        sub = order[pos]
        order[pos] = sub[np.lexsort((np.asarray(ties)[sub], run))]
    return order


def rank_in_row(sorted_rows: np.ndarray, n_rows: int) -> np.ndarray:
    """Position of every entry within its row, for entries sorted by row (rows < n_rows)."""
    counts = np.bincount(sorted_rows, minlength=n_rows)
    return np.arange(len(sorted_rows)) - (np.cumsum(counts) - counts)[sorted_rows]


def exact_top(qv: np.ndarray, xv: np.ndarray, w: int):
    """Yield (query slice, local index rows (m, w'), scores (m, w')): the w best rows of
    ``xv`` per query, exact, ties broken by the lower row (each row of the output in that
    order, except when ``len(xv) <= w``: then every row, unordered). Scores are float32 (the
    vectors are cast if they are not)."""
    qv = np.asarray(qv, dtype=np.float32)
    xv = np.asarray(xv, dtype=np.float32)
    n = len(xv)
    q_step = max(1, min(len(qv), MAX_QUERY_ROWS))
    x_step = max(w + 1, min(MAX_INDEX_ROWS, MAX_SCORES // q_step))
    for qs in range(0, len(qv), q_step):
        qc = qv[qs : qs + q_step]
        cols, top = _top_w(qc @ xv[:x_step].T, w)
        if n > x_step:
            cols, top = _scan(qc, xv, w, x_step, cols, top)
        yield slice(qs, qs + len(qc)), cols, top


def _scan(
    qc: np.ndarray, xv: np.ndarray, w: int, x_step: int, cols: np.ndarray, top: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The w best of each row over ``xv[x_step:]`` and the current (cols, top), both sorted
    by (score desc, col asc) per row."""
    m = len(qc)
    thr = top[:, -1:]  # the current w-th best: later columns must beat it (ties: lower col)
    pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    n_pending = 0
    for xs in range(x_step, len(xv), x_step):
        scores = qc @ xv[xs : xs + x_step].T
        flat = np.flatnonzero(scores > thr)
        if not len(flat):
            continue
        r, c = np.divmod(flat, scores.shape[1])
        pending.append((r, c + xs, scores.ravel()[flat]))
        n_pending += len(flat)
        if n_pending >= MERGE_FACTOR * m * w:
            cols, top = _merge(cols, top, pending, w)
            thr = top[:, -1:]
            pending, n_pending = [], 0
    if pending:
        cols, top = _merge(cols, top, pending, w)
    return cols, top


def _merge(
    cols: np.ndarray,
    top: np.ndarray,
    pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    w: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The w best per row of the sorted (cols, top) and the pending (rows, cols, scores)
    entries, whose columns are higher (ties: the lower column, i.e. the earlier entry)."""
    m = len(cols)
    rows = np.concatenate([np.repeat(np.arange(m), w), *(p[0] for p in pending)])
    all_cols = np.concatenate([cols.ravel(), *(p[1] for p in pending)])
    vals = np.concatenate([top.ravel(), *(p[2] for p in pending)])
    # within a row, equal scores are already in ascending column order: a stable sort keeps it
    order = np.argsort(row_value_keys(rows, vals), kind="stable")
    keep = order[rank_in_row(rows[order], m) < w]
    return all_cols[keep].reshape(m, w), vals[keep].reshape(m, w)


def _top_w(scores: np.ndarray, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the columns of the ``w`` largest scores and those scores, sorted by score
    desc, then column asc (every column, unordered, when the rows have at most ``w``)."""
    m, n = scores.shape
    if n <= w:
        return np.broadcast_to(np.arange(n), (m, n)).copy(), scores
    kth = np.partition(scores, n - w, axis=1)[:, n - w : n - w + 1]  # each row's w-th best
    flat = np.flatnonzero(scores >= kth)  # at least w per row (more on ties)
    r, c = np.divmod(flat, n)
    v = scores.ravel()[flat]
    order = np.argsort(row_value_keys(r, v), kind="stable")  # flat order: ties by column
    keep = order[rank_in_row(r[order], m) < w]
    return c[keep].reshape(m, w), v[keep].reshape(m, w)


#: Searches of fewer (query, index) pairs run with one BLAS thread (see search_blocks).
SMALL_SEARCH_PAIRS = 1 << 21

Found = tuple[np.ndarray, np.ndarray, np.ndarray]  # (query rows, index rows, scores)
T = TypeVar("T")


def rows_view(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``x[rows]`` for ascending unique rows; a contiguous run (e.g. a brand block of an index
    stored in brand-key order) as a slice, without a copy."""
    return x[rows[0] : rows[-1] + 1] if rows[-1] - rows[0] + 1 == len(rows) else x[rows]


def block_top(
    q: np.ndarray, x: np.ndarray, q_rows: np.ndarray, x_rows: np.ndarray, width: int
) -> Found:
    """The ``min(width, len(x_rows))`` best of ``x[x_rows]`` for every query of ``q[q_rows]``
    (rows ascending; a contiguous run of ``x_rows`` is read as a slice, without a copy), as
    flat (query rows, index rows, scores), exact (ties: the lower index row)."""
    xv = np.asarray(rows_view(x, x_rows), dtype=np.float32)  # no copy when float32
    qv = np.asarray(q[q_rows], dtype=np.float32)
    n = len(x_rows)
    if n <= width:  # every pair is kept: no selection
        scores = qv @ xv.T
        return np.repeat(q_rows, n), np.tile(x_rows, len(q_rows)), scores.ravel()
    if len(q_rows) * n <= MAX_SCORES and n <= MAX_INDEX_ROWS:
        # one product; without a tie at a row's w-th best, the entries reaching it are the
        # answer (unordered): no sort
        scores = qv @ xv.T
        kth = np.partition(scores, n - width, axis=1)[:, n - width : n - width + 1]
        flat = np.flatnonzero(scores >= kth)
        if len(flat) == len(q_rows) * width:
            r, c = np.divmod(flat, n)
            return q_rows[r], x_rows[c], scores.ravel()[flat]
        cols, top = _top_w(scores, width)
        return np.repeat(q_rows, width), x_rows[cols].ravel(), top.ravel()
    parts = [
        (np.repeat(q_rows[qs], local.shape[1]), x_rows[local].ravel(), top.ravel())
        for qs, local, top in exact_top(qv, xv, width)
    ]
    return tuple(np.concatenate(p) for p in zip(*parts, strict=True))  # type: ignore[return-value]


def search_blocks(
    q: np.ndarray,
    x: np.ndarray,
    searches: list[tuple[np.ndarray, np.ndarray]],
    width: int,
    *,
    limit_blas: bool = True,
) -> list[Found]:
    """:func:`block_top` of every search. Searches of fewer than ``SMALL_SEARCH_PAIRS`` pairs
    run with one BLAS thread: a small product split over threads costs more in waking and
    waiting for them than it gains (on a busy 2-core machine 30 ms for a 20 x 300 product
    instead of 0.5 ms). Running them on two worker threads did not help (their numpy calls
    between the products hold the GIL). ``limit_blas=False``: the caller sets the BLAS threads
    (a worker thread must not: the limit is global to the process)."""
    small = [s for s in searches if len(s[0]) * len(s[1]) < SMALL_SEARCH_PAIRS]
    found = [
        block_top(q, x, q_rows, x_rows, width)
        for q_rows, x_rows in searches
        if len(q_rows) * len(x_rows) >= SMALL_SEARCH_PAIRS
    ]
    if small:
        with one_blas_thread() if limit_blas else contextlib.nullcontext():
            found.extend(block_top(q, x, q_rows, x_rows, width) for q_rows, x_rows in small)
    return found


def one_blas_thread():
    """Context manager: BLAS runs on one thread inside (in the whole process)."""
    return _blas_controller().limit(limits=1, user_api="blas")


def half_blas_threads():
    """Context manager: BLAS runs on half its threads inside, at least one (whole process)."""
    controller = _blas_controller()
    threads = max((i["num_threads"] for i in controller.select(user_api="blas").info()), default=2)
    return controller.limit(limits=max(1, threads // 2), user_api="blas")


@contextlib.contextmanager
def in_background(work: Callable[[], T]) -> Iterator[Future[T]]:
    """Run ``work`` on a worker thread while the body runs, each with half the BLAS threads
    (at least one: on 2 cores, two single-threaded streams use both cores without waking and
    waiting for BLAS threads; a larger machine keeps its cores busy); when the body is done BLAS
    gets its threads back and the worker may use them. Yields the worker's future; leaving waits
    for it. ``work`` must not change the BLAS threads."""
    with ThreadPoolExecutor(1) as pool, half_blas_threads():
        future = pool.submit(work)
        yield future


@functools.cache
def _blas_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()
