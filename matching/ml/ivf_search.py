"""Approximate top-k for the unbranded side of a blocked search: an inverted-file (IVF) search
whose lists are searched with matrix products.

Unbranded offers are compared with everything: unbranded queries with the whole index, branded
queries with the unbranded index offers. At the paper's scale these two searches make about
90 % of a blocked search's comparisons. :func:`matching.ml.retrieval.search` runs the second as
an IVF search when :class:`~matching.ml.match_config.MatchConfig` asks for it
(``unbranded_index="ivf"``; exact ``"flat"`` is the default) and it is large enough
(:func:`use_ivf`); ``"ivf_all"`` also the first. Brand blocks stay exact. Measured
(bench/ivf_recall.py): on synthetic isotropic vectors both lose true matches whose brand is
missing on one side (the query's nearest centroids are not those of its match), so IVF is an
opt-in until it is measured on real embeddings.

The index vectors are grouped into ``nlist = IVF_LISTS_FACTOR * sqrt(n)`` lists by their
nearest centroid (spherical k-means on a sample, FAISS), and a query is compared only with the
vectors of its ``nprobe`` nearest lists. Unlike FAISS's ``IndexIVFFlat``, which scans the lists
query by query (every query re-reads its lists from memory: ~1 GFLOPS here at 896 dims), the
queries are grouped by list and each list is searched once for all its queries with exact
chunked matrix products (:func:`~matching.ml.exact_search.exact_top`), which runs at BLAS speed.
Scores of the rows found are exact inner products; what it can lose is rows in lists a query
did not visit (:func:`recall_at` measures that against exact search). Building costs about
``n * nlist`` dot products (assigning every vector), so it only pays off for many queries:
:func:`use_ivf` asks for at least ``MIN_QUERIES_PER_LIST`` queries per list.
"""

from __future__ import annotations

import math

import faiss
import numpy as np

from .exact_search import exact_top

#: nlist = IVF_LISTS_FACTOR * sqrt(index rows)
IVF_LISTS_FACTOR = 0.25
#: k-means: iterations, and training points per list (a sample of the index above that)
KMEANS_ITERATIONS = 10
TRAIN_POINTS_PER_LIST = 40
#: an IVF search is used only for at least this many queries per list (else exact is cheaper)
MIN_QUERIES_PER_LIST = 4
#: rows multiplied at once when assigning vectors to their nearest centroids
ASSIGN_ROWS = 8192


def n_lists(n: int) -> int:
    """The number of inverted lists for ``n`` index vectors."""
    return max(1, int(IVF_LISTS_FACTOR * math.sqrt(n)))


def use_ivf(*, n_queries: int, n_index: int, min_comparisons: int) -> bool:
    """Whether a search of ``n_queries`` x ``n_index`` goes to an IVF search: it makes at least
    ``min_comparisons`` exact comparisons (below that, building the lists and the per-list
    calls cost about what they save: 900 x 50,000 at 192 dims was slower with IVF) and has
    enough queries per list to pay for assigning the index to the lists."""
    return n_queries * n_index >= min_comparisons and n_queries >= MIN_QUERIES_PER_LIST * n_lists(
        n_index
    )


def centroids(vecs: np.ndarray, nlist: int, *, seed: int = 1234) -> np.ndarray:
    """(nlist, d) unit centroids: spherical k-means on a sample of ``vecs``."""
    n, d = vecs.shape
    if n > TRAIN_POINTS_PER_LIST * nlist:
        sample = np.random.default_rng(seed).choice(n, TRAIN_POINTS_PER_LIST * nlist, replace=False)
        train = np.ascontiguousarray(vecs[np.sort(sample)], dtype=np.float32)
    else:
        train = np.ascontiguousarray(vecs, dtype=np.float32)
    kmeans = faiss.Kmeans(
        d,
        nlist,
        niter=KMEANS_ITERATIONS,
        spherical=True,
        seed=seed,
        max_points_per_centroid=TRAIN_POINTS_PER_LIST,
        min_points_per_centroid=1,
    )
    kmeans.train(train)
    return np.ascontiguousarray(kmeans.centroids, dtype=np.float32)


def nearest_lists(vecs: np.ndarray, cents: np.ndarray, k: int) -> np.ndarray:
    """(n, k) the ``k`` centroids of largest inner product per row (unordered)."""
    out = np.empty((len(vecs), k), dtype=np.int64)
    for s in range(0, len(vecs), ASSIGN_ROWS):
        scores = vecs[s : s + ASSIGN_ROWS] @ cents.T
        if k == 1:
            out[s : s + ASSIGN_ROWS, 0] = scores.argmax(axis=1)
        elif k >= cents.shape[0]:
            out[s : s + ASSIGN_ROWS] = np.arange(cents.shape[0])
        else:
            out[s : s + ASSIGN_ROWS] = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return out


def ivf_top(
    qv: np.ndarray, xv: np.ndarray, w: int, *, nprobe: int, seed: int = 1234
) -> tuple[np.ndarray, np.ndarray]:
    """(local rows (m, w), scores (m, w)) of the ``w`` best rows of ``xv`` per query among the
    rows of its ``nprobe`` nearest lists, best first; -1 / -inf where fewer were found."""
    m = len(qv)
    nlist = n_lists(len(xv))
    cents = centroids(xv, nlist, seed=seed)
    assign = nearest_lists(xv, cents, 1)[:, 0]
    order = np.argsort(assign, kind="stable")
    bounds = np.searchsorted(assign[order], np.arange(nlist + 1))
    probes = nearest_lists(qv, cents, min(nprobe, nlist))
    flat_lists = probes.ravel()
    by_list = np.argsort(flat_lists, kind="stable")  # queries ascending inside each list
    q_of = by_list // probes.shape[1]
    q_bounds = np.searchsorted(flat_lists[by_list], np.arange(nlist + 1))
    cols = np.full((m, w), -1, dtype=np.int64)
    best = np.full((m, w), -np.inf, dtype=np.float32)
    for lst in range(nlist):
        qs = q_of[q_bounds[lst] : q_bounds[lst + 1]]
        rows = order[bounds[lst] : bounds[lst + 1]]
        if not len(qs) or not len(rows):
            continue
        xl = xv[rows]
        ql = qv[qs]
        for sl, local, top in exact_top(ql, xl, min(w, len(rows))):
            sel = qs[sl]
            all_s = np.concatenate([best[sel], top.astype(np.float32)], axis=1)
            all_c = np.concatenate([cols[sel], rows[local]], axis=1)
            keep = np.argpartition(-all_s, w - 1, axis=1)[:, :w]
            best[sel] = np.take_along_axis(all_s, keep, axis=1)
            cols[sel] = np.take_along_axis(all_c, keep, axis=1)
    order = np.argsort(-best, axis=1, kind="stable")
    return np.take_along_axis(cols, order, axis=1), np.take_along_axis(best, order, axis=1)


def recall_at(approximate: np.ndarray, exact: np.ndarray, k: int) -> float:
    """Share of the exact top-``k`` rows (-1: none) that the approximate top-``k`` also holds."""
    a, e = approximate[:, :k], exact[:, :k]
    hits = total = 0
    for row_a, row_e in zip(a, e, strict=True):
        wanted = row_e[row_e >= 0]
        total += len(wanted)
        hits += int(np.isin(wanted, row_a).sum())
    return hits / total if total else 1.0
