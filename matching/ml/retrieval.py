"""Nearest-neighbour search inside brand blocks (FAISS), and the scoring pipeline of a match.

:func:`search` takes the whole :class:`~matching.ml.match_config.MatchConfig` and brand keys
computed beforehand with :func:`matching.ml.brands.brand_key` (stored as
``Offer.brand_normalised``). Blocking (``config.brand_threshold``, None: off) is described in
:mod:`matching.ml.brands`. Scoring (``one_to_one=False`` without texts and ``rescore="none"``
gives plain cosine top-k):

1. Shortlist: the ``shortlist`` (50) nearest index offers of every query by cosine, inside its
   block.
2. Sparse text similarity, when ``query_texts`` / ``index_texts`` are given and
   ``text_weight > 0``: TF-IDF cosine (:class:`~matching.ml.text_similarity.SparseText`, fitted
   on the texts of both shops, no labels), mixed in as
   ``(1 - text_weight) * cos + text_weight * tfidf``.
3. ``rescore="csls"`` (:mod:`matching.ml.rescoring`; off by default: it helped text-only
   electronics a little but cost ~10 AUCPR points on fashion, where most queries have no match
   and near-duplicate variants make the local density a poor reference), with neighbourhoods
   taken inside the block.
4. ``one_to_one`` (default on): greedy assignment, see :mod:`matching.ml.one_to_one`.

Search: vectors are assumed L2-normalised, so inner product = cosine similarity. Inside a block
the search is exact (``IndexFlatIP``) unless ``index_type`` asks for an approximate index AND the
block has at least ``ANN_MIN_SIZE`` offers: ``"ivf"`` (``IndexIVFFlat``, ``nlist = 4*sqrt(n)``,
``nprobe = IVF_NPROBE``) or ``"hnsw"`` (``IndexHNSWFlat``, M=32, ``efSearch = max(HNSW_EF_SEARCH,
2k)``). Exact flat indexes go to the GPU(s) when FAISS sees one and the block is large.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import faiss
import numpy as np

from .blocking_plan import brand_block_searches, unbranded_searches
from .brands import block_keys
from .exact_search import (
    in_background,
    order_by_row_value,
    rank_in_row,
    rows_view,
    search_blocks,
)
from .ivf_search import ivf_top, use_ivf
from .match_config import INDEX_TYPES, MatchConfig
from .one_to_one import final_ranking
from .rescoring import csls_rescore, top_k_rows
from .text_similarity import SparseText, pair_dot

ANN_MIN_SIZE = 10_000
GPU_MIN_SIZE = 50_000
IVF_NPROBE = 16
HNSW_M = 32
HNSW_EF_SEARCH = 128


@dataclass
class SearchResult:
    """Top-k per query: ``indices`` (nq, k) int64 index positions (-1: none), ``similarities``
    (nq, k) float32 match scores (-inf where none; the plain cosine when ``rescore="none"``,
    ``one_to_one=False`` and no texts, else the combined score in [-1, 1], see the module doc),
    the number of query-index dot products an exhaustive search inside the blocks makes vs.
    without blocking, and ``cosines`` (nq, k) the plain cosine of the same pairs."""

    indices: np.ndarray
    similarities: np.ndarray
    comparisons: int
    comparisons_unblocked: int
    cosines: np.ndarray | None = None


def build_index(vecs: np.ndarray, *, index_type: str, k: int) -> faiss.Index:
    """A FAISS inner-product index over ``vecs``: exact below ``ANN_MIN_SIZE`` (see module doc)."""
    n, d = vecs.shape
    if index_type == "flat" or n < ANN_MIN_SIZE:
        index = faiss.IndexFlatIP(d)
        if faiss.get_num_gpus() > 0 and n >= GPU_MIN_SIZE:
            index = faiss.index_cpu_to_all_gpus(index)
    elif index_type == "ivf":
        nlist = max(1, int(4 * math.sqrt(n)))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(vecs)
        index.nprobe = min(IVF_NPROBE, nlist)
    elif index_type == "hnsw":
        index = faiss.IndexHNSWFlat(d, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = max(HNSW_EF_SEARCH, 2 * k)
    else:
        raise ValueError(f"index_type must be one of {INDEX_TYPES}, got {index_type!r}")
    index.add(vecs)
    return index


def search(
    *,
    query_vecs: np.ndarray,
    index_vecs: np.ndarray,
    config: MatchConfig,
    query_keys: Sequence[str] | None = None,
    index_keys: Sequence[str] | None = None,
    query_texts: Sequence[str | None] | None = None,
    index_texts: Sequence[str | None] | None = None,
    sparse: SparseText | None = None,
) -> SearchResult:
    """``config.k`` best index offers per query, inside brand blocks when
    ``config.brand_threshold`` is set (then ``query_keys`` / ``index_keys``, the
    :func:`~matching.ml.brands.brand_key` of every offer, are required). ``sparse``: the
    TF-IDF already fitted on ``[*query_texts, *index_texts]`` (fitted here when None).

    ``config.text_weight`` must be resolved (:meth:`MatchConfig.resolved`). Scoring: see the
    module doc (``rescore="none"``, ``one_to_one=False`` and no texts: plain cosine top-k).
    """
    if config.text_weight is None:
        raise ValueError(
            "config.text_weight is None: resolve it first with config.resolved(features)"
        )
    if (query_texts is None) != (index_texts is None):
        raise ValueError("give both query_texts and index_texts, or neither")
    q = np.ascontiguousarray(query_vecs, dtype=np.float32)
    x = np.ascontiguousarray(index_vecs, dtype=np.float32)
    nq, ni = len(q), len(x)
    if config.brand_threshold is not None:
        if query_keys is None or index_keys is None:
            raise ValueError(
                "blocking (config.brand_threshold set) needs query_keys and index_keys"
            )
        if len(query_keys) != nq or len(index_keys) != ni:
            raise ValueError("one brand key per vector expected")
    text_weight = config.text_weight
    texts = None
    if query_texts is not None and index_texts is not None and text_weight > 0:
        if len(query_texts) != nq or len(index_texts) != ni:
            raise ValueError("one text per vector expected")
        if sparse is None:
            sparse = SparseText().fit([*query_texts, *index_texts])
        texts = (sparse.transform(query_texts), sparse.transform(index_texts))

    def combined(cos: np.ndarray, q_pos: np.ndarray, x_pos: np.ndarray) -> np.ndarray:
        if texts is None:
            return cos
        ok = np.isfinite(cos) & (q_pos >= 0) & (x_pos >= 0)
        tf = np.zeros(cos.shape, dtype=np.float32)
        tf[ok] = pair_dot(texts[0], texts[1], q_pos[ok], x_pos[ok])
        return np.where(ok, (1 - text_weight) * cos + text_weight * tf, -np.inf).astype(np.float32)

    plain = config.rescore == "none" and not config.one_to_one and texts is None
    width = config.k if plain else max(config.k, config.shortlist)
    blocked = config.brand_threshold is not None
    if config.rescore == "csls":
        cand_idx, cand_cos, cand_score, comparisons = _csls_shortlists(
            q,
            x,
            config=config,
            width=width,
            combined=combined,
            with_texts=texts is not None,
            keys=(query_keys, index_keys) if blocked else None,
        )
    else:
        u_found: list[tuple[np.ndarray, np.ndarray, int]] = []
        if blocked:
            # the unbranded offers need no brand matching: searched on a worker thread (IVF
            # when configured) while this one plans and runs the brand blocks
            def search_unbranded() -> list[tuple[np.ndarray, np.ndarray, int]]:
                unbranded = unbranded_searches(query_keys=query_keys, index_keys=index_keys)
                return [
                    cosine_shortlists(
                        q,
                        x,
                        searches=[u_search],
                        width=width,
                        index_type=config.index_type,
                        ivf=_ivf_for(config, unbranded_queries=not query_keys[u_search[0][0]]),
                        limit_blas=False,
                    )
                    for u_search in unbranded
                ]

            with in_background(search_unbranded) as pending:
                searches = brand_block_searches(
                    query_keys=query_keys, index_keys=index_keys, threshold=config.brand_threshold
                )
                cand_idx, cand_cos, comparisons = cosine_shortlists(
                    q, x, searches=searches, width=width, index_type=config.index_type
                )
            u_found = pending.result()
        else:
            cand_idx, cand_cos, comparisons = cosine_shortlists(
                q, x, searches=[(np.arange(nq), np.arange(ni))], width=width,
                index_type=config.index_type,
            )  # fmt: skip
        rows = np.broadcast_to(np.arange(nq)[:, None], cand_idx.shape)
        cand_score = combined(cand_cos, rows, cand_idx)
        for u_idx, u_cos, u_comparisons in u_found:
            # unbranded offers: their own cosine shortlists, merged by the final score
            comparisons += u_comparisons
            cand_idx, cand_cos, cand_score = _merge_by_score(
                (cand_idx, cand_cos, cand_score), (u_idx, u_cos, combined(u_cos, rows, u_idx))
            )
    if plain:
        return SearchResult(
            indices=cand_idx,
            similarities=cand_cos,
            comparisons=comparisons,
            comparisons_unblocked=nq * ni,
            cosines=cand_cos.copy(),
        )
    indices, sims, cosines = final_ranking(
        cand_idx,
        cand_score,
        cand_cos,
        k=config.k,
        one_to_one=config.one_to_one,
        penalty=config.unassigned_penalty,
    )
    return SearchResult(
        indices=indices,
        similarities=sims,
        comparisons=comparisons,
        comparisons_unblocked=nq * ni,
        cosines=cosines,
    )


def _ivf_for(config: MatchConfig, *, unbranded_queries: bool) -> tuple[int, int] | None:
    """(min comparisons, nprobe) of an unbranded search that may use IVF, None: exact.
    ``ivf`` covers the branded queries x the unbranded index offers, ``ivf_all`` also the
    unbranded queries x the whole index (see MatchConfig)."""
    if config.unbranded_index == "flat" or (
        unbranded_queries and config.unbranded_index != "ivf_all"
    ):
        return None
    return config.ivf_min_comparisons, config.ivf_nprobe


def cosine_shortlists(
    q: np.ndarray,
    x: np.ndarray,
    *,
    searches: Sequence[tuple[np.ndarray, np.ndarray]],
    width: int,
    index_type: str = "flat",
    ivf: tuple[int, int] | None = None,
    limit_blas: bool = True,
) -> tuple[np.ndarray, np.ndarray, int]:
    """The ``width`` best index rows per query by inner product over the union of its
    ``searches`` (each (query rows, index rows); a pair must not be in two searches).

    Exact (ties: the lower index row first) unless ``ivf`` = (min comparisons, nprobe) and
    :func:`~matching.ml.ivf_search.use_ivf` says so for a search, or ``index_type`` is ``ivf`` /
    ``hnsw`` and a search has at least ``ANN_MIN_SIZE`` index rows. Returns (index rows
    (nq, width), -1 padded; scores, -inf padded; number of exact-search comparisons, counted
    as if every search were exact). Exact searches: :func:`~matching.ml.exact_search.search_blocks`
    (``limit_blas=False`` on a worker thread: see there), in float32.
    """
    nq = len(q)
    found_q, found_x, found_s = [], [], []
    exact = []
    comparisons = 0
    for q_rows, x_rows in searches:
        if not len(q_rows) or not len(x_rows):
            continue
        comparisons += len(q_rows) * len(x_rows)
        w = min(width, len(x_rows))
        if ivf is not None and use_ivf(
            n_queries=len(q_rows), n_index=len(x_rows), min_comparisons=ivf[0]
        ):
            local, scores = ivf_top(q[q_rows], rows_view(x, x_rows), w, nprobe=ivf[1])
        elif (index_type != "flat" and len(x_rows) >= ANN_MIN_SIZE) or (
            faiss.get_num_gpus() > 0 and len(x_rows) >= GPU_MIN_SIZE
        ):
            index = build_index(rows_view(x, x_rows), index_type=index_type, k=w)
            scores, local = index.search(q[q_rows], w)
            scores = scores.astype(np.float32)
        else:
            exact.append((q_rows, x_rows))
            continue
        ok = local >= 0
        found_q.append(np.broadcast_to(q_rows[:, None], local.shape)[ok])
        found_x.append(x_rows[local[ok]])
        found_s.append(scores[ok])
    for qr, xr, sv in search_blocks(q, x, exact, width, limit_blas=limit_blas):
        found_q.append(qr)
        found_x.append(xr)
        found_s.append(sv)
    cand_idx = np.full((nq, width), -1, dtype=np.int64)
    cand_cos = np.full((nq, width), -np.inf, dtype=np.float32)
    if found_q:
        qr, xr, sv = np.concatenate(found_q), np.concatenate(found_x), np.concatenate(found_s)
        order = order_by_row_value(qr, sv, xr)  # = np.lexsort((xr, -sv, qr)), faster
        qr, xr, sv = qr[order], xr[order], sv[order]
        rank = rank_in_row(qr, nq)
        keep = rank < width
        cand_idx[qr[keep], rank[keep]] = xr[keep]
        cand_cos[qr[keep], rank[keep]] = sv[keep]
    return cand_idx, cand_cos, comparisons


def _merge_by_score(
    a: tuple[np.ndarray, np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row, the best ``width`` of two (index rows, cosines, scores) shortlists by score
    (ties: the lower index row; -1 entries last)."""
    width = a[0].shape[1]
    idx, cos, score = (np.concatenate([p, r], axis=1) for p, r in zip(a, b, strict=True))
    key = np.where(idx >= 0, -score, np.inf)
    order = np.lexsort((np.where(idx >= 0, idx, np.iinfo(np.int64).max), key), axis=1)
    order = order[:, :width]
    return tuple(np.take_along_axis(v, order, axis=1) for v in (idx, cos, score))


def _csls_shortlists(
    q: np.ndarray,
    x: np.ndarray,
    *,
    config: MatchConfig,
    width: int,
    combined: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    with_texts: bool,
    keys: tuple[Sequence[str], Sequence[str]] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Shortlists rescored with CSLS, one FAISS search per distinct block (CSLS needs each
    block's whole neighbourhood, including its unbranded index offers)."""
    nq, ni = len(q), len(x)
    if keys is None:
        groups = [(np.arange(nq), np.arange(ni))]
    else:
        groups = _blocked_groups(keys[0], keys[1], config.brand_threshold)
    cand_idx = np.full((nq, width), -1, dtype=np.int64)
    cand_cos = np.full((nq, width), -np.inf, dtype=np.float32)
    cand_score = np.full((nq, width), -np.inf, dtype=np.float32)
    comparisons = 0
    for q_rows, candidates in groups:
        if len(q_rows) == 0 or len(candidates) == 0:
            continue
        comparisons += len(q_rows) * len(candidates)
        index = build_index(x[candidates], index_type=config.index_type, k=width)
        d, local = index.search(q[q_rows], min(width, len(candidates)))
        found = local >= 0
        rows_x = np.where(found, candidates[np.maximum(local, 0)], -1)
        local = np.where(found, local, -1)
        d = np.where(found, d, -np.inf).astype(np.float32)
        score = combined(d, np.broadcast_to(q_rows[:, None], rows_x.shape), rows_x)
        # reverse neighbourhoods: every candidate index offer against the block's queries
        reverse = faiss.IndexFlatIP(q.shape[1])
        reverse.add(q[q_rows])
        kr = min(width if with_texts else config.csls_k, len(q_rows))
        d2, local2 = reverse.search(x[candidates], kr)
        ok2 = local2 >= 0
        d2 = np.where(ok2, d2, -np.inf).astype(np.float32)
        q_of = np.where(ok2, q_rows[np.maximum(local2, 0)], -1)
        s2 = combined(d2, q_of, np.broadcast_to(candidates[:, None], q_of.shape))
        score = csls_rescore(
            score,
            top_k_rows(score, config.csls_k),
            top_k_rows(s2, config.csls_k),
            columns=local,
        )
        kk = rows_x.shape[1]
        cand_idx[q_rows, :kk] = rows_x
        cand_cos[q_rows, :kk] = d
        cand_score[q_rows, :kk] = np.where(found, score, -np.inf).astype(np.float32)
    return cand_idx, cand_cos, cand_score, comparisons


def _blocked_groups(
    qk: Sequence[str], ik: Sequence[str], threshold: float
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(query rows, candidate index rows) per distinct candidate set."""
    blocks = block_keys(query_keys=qk, index_keys=ik, threshold=threshold)
    rows_of_index_key: dict[str, list[int]] = {}
    for i, key in enumerate(ik):
        rows_of_index_key.setdefault(key, []).append(i)
    by_candidates: dict[tuple[str, ...], list[int]] = {}
    for row, key in enumerate(qk):
        by_candidates.setdefault(tuple(blocks[key]), []).append(row)
    groups = []
    for keys, q_rows in by_candidates.items():
        cand = sorted(i for key in keys for i in rows_of_index_key[key])
        groups.append((np.asarray(q_rows, dtype=np.int64), np.asarray(cand, dtype=np.int64)))
    return groups
