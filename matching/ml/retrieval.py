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
from collections.abc import Sequence
from dataclasses import dataclass

import faiss
import numpy as np

from .brands import block_keys
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


def _merge_shortlists(
    cand_idx: np.ndarray,
    cand_cos: np.ndarray,
    cand_score: np.ndarray,
    *,
    rows: np.ndarray,
    idx: np.ndarray,
    cos: np.ndarray,
    score: np.ndarray,
) -> None:
    """Keep, in place, the best `width` of the current and the new candidates of `rows`."""
    width = cand_idx.shape[1]
    all_idx = np.concatenate([cand_idx[rows], idx], axis=1)
    all_cos = np.concatenate([cand_cos[rows], cos], axis=1)
    all_score = np.concatenate([cand_score[rows], score], axis=1)
    order = np.argsort(-all_score, axis=1, kind="stable")[:, :width]
    cand_idx[rows] = np.take_along_axis(all_idx, order, axis=1)
    cand_cos[rows] = np.take_along_axis(all_cos, order, axis=1)
    cand_score[rows] = np.take_along_axis(all_score, order, axis=1)


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
) -> SearchResult:
    """``config.k`` best index offers per query, inside brand blocks when
    ``config.brand_threshold`` is set (then ``query_keys`` / ``index_keys``, the
    :func:`~matching.ml.brands.brand_key` of every offer, are required).

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
    k, index_type, rescore = config.k, config.index_type, config.rescore
    text_weight, csls_k = config.text_weight, config.csls_k
    unbranded = branded_queries = np.zeros(0, dtype=np.int64)
    if config.brand_threshold is None:
        groups = [(np.arange(nq), np.arange(ni))]
    else:
        if query_keys is None or index_keys is None:
            raise ValueError(
                "blocking (config.brand_threshold set) needs query_keys and index_keys"
            )
        if len(query_keys) != nq or len(index_keys) != ni:
            raise ValueError("one brand key per vector expected")
        groups, unbranded, branded_queries = _blocked_groups(
            query_keys,
            index_keys,
            config.brand_threshold,
            split_unbranded=rescore == "none",  # CSLS needs each block's whole neighbourhood
        )
    texts = None
    if query_texts is not None and index_texts is not None and text_weight > 0:
        if len(query_texts) != nq or len(index_texts) != ni:
            raise ValueError("one text per vector expected")
        sparse = SparseText().fit([*query_texts, *index_texts])
        texts = (sparse.transform(query_texts), sparse.transform(index_texts))
    plain = rescore == "none" and not config.one_to_one and texts is None
    width = k if plain else max(k, config.shortlist)
    cand_idx = np.full((nq, width), -1, dtype=np.int64)
    cand_cos = np.full((nq, width), -np.inf, dtype=np.float32)
    cand_score = np.full((nq, width), -np.inf, dtype=np.float32)

    def combined(cos: np.ndarray, q_pos: np.ndarray, x_pos: np.ndarray) -> np.ndarray:
        if texts is None:
            return cos
        ok = np.isfinite(cos) & (q_pos >= 0) & (x_pos >= 0)
        tf = np.zeros(cos.shape, dtype=np.float32)
        tf[ok] = pair_dot(texts[0], texts[1], q_pos[ok], x_pos[ok])
        return np.where(ok, (1 - text_weight) * cos + text_weight * tf, -np.inf).astype(np.float32)

    def search_block(q_rows: np.ndarray, candidates: np.ndarray):
        """Top-`width` candidates of q_rows: (index rows or -1, block positions or -1,
        cosines, scores)."""
        index = build_index(x[candidates], index_type=index_type, k=width)
        d, local = index.search(q[q_rows], min(width, len(candidates)))
        found = local >= 0
        rows_x = np.where(found, candidates[np.maximum(local, 0)], -1)
        d = np.where(found, d, -np.inf).astype(np.float32)
        score = combined(d, np.broadcast_to(q_rows[:, None], rows_x.shape), rows_x)
        return rows_x, np.where(found, local, -1), d, score

    comparisons = 0
    for q_rows, candidates in groups:
        if len(q_rows) == 0 or len(candidates) == 0:
            continue
        comparisons += len(q_rows) * len(candidates)
        rows_x, local, d, score = search_block(q_rows, candidates)
        kk = rows_x.shape[1]
        if rescore == "csls":
            # reverse neighbourhoods: every candidate index offer against the block's queries
            reverse = faiss.IndexFlatIP(q.shape[1])
            reverse.add(q[q_rows])
            kr = min(width if texts is not None else csls_k, len(q_rows))
            d2, local2 = reverse.search(x[candidates], kr)
            ok2 = local2 >= 0
            d2 = np.where(ok2, d2, -np.inf).astype(np.float32)
            q_of = np.where(ok2, q_rows[np.maximum(local2, 0)], -1)
            s2 = combined(d2, q_of, np.broadcast_to(candidates[:, None], q_of.shape))
            score = csls_rescore(
                score, top_k_rows(score, csls_k), top_k_rows(s2, csls_k), columns=local
            )
            score = np.where(rows_x >= 0, score, -np.inf).astype(np.float32)
        cand_idx[q_rows, :kk] = rows_x
        cand_cos[q_rows, :kk] = d
        cand_score[q_rows, :kk] = score
    if len(unbranded) and len(branded_queries):
        # Unbranded index offers are candidates of every branded query: one search, then merge.
        comparisons += len(branded_queries) * len(unbranded)
        rows_x, _, d, score = search_block(branded_queries, unbranded)
        _merge_shortlists(
            cand_idx, cand_cos, cand_score, rows=branded_queries, idx=rows_x, cos=d, score=score
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
        k=k,
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


def _blocked_groups(
    qk: Sequence[str],
    ik: Sequence[str],
    threshold: float,
    *,
    split_unbranded: bool = False,
) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray, np.ndarray]:
    """(query rows, candidate index rows) per distinct candidate set.

    With ``split_unbranded`` the unbranded index offers are left out of the branded queries'
    blocks and returned apart (with those queries), to be searched once for all of them
    instead of once per block. Returns (groups, unbranded index rows, branded query rows).
    """
    blocks = block_keys(query_keys=qk, index_keys=ik, threshold=threshold)
    rows_of_index_key: dict[str, list[int]] = {}
    for i, key in enumerate(ik):
        rows_of_index_key.setdefault(key, []).append(i)
    by_candidates: dict[tuple[str, ...], list[int]] = {}
    for row, key in enumerate(qk):
        keys = blocks[key]
        if split_unbranded and key:
            keys = [k for k in keys if k]
        by_candidates.setdefault(tuple(keys), []).append(row)
    groups = []
    for keys, q_rows in by_candidates.items():
        cand = sorted(i for key in keys for i in rows_of_index_key[key])
        groups.append((np.asarray(q_rows, dtype=np.int64), np.asarray(cand, dtype=np.int64)))
    unbranded = np.asarray(rows_of_index_key.get("", []) if split_unbranded else [], np.int64)
    branded_queries = np.asarray([r for r, key in enumerate(qk) if key], dtype=np.int64)
    return groups, unbranded, branded_queries
