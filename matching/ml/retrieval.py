"""Brand blocking (rapidfuzz) and nearest-neighbour search inside blocks (FAISS).

Blocking compares brand KEYS (:func:`brand_key`) with ``rapidfuzz.fuzz.token_set_ratio``
(0-100): equal keys always match; otherwise a query key and an index key form a block when their
score is ``>= threshold``. ``token_set_ratio`` scores 100 when the tokens of one key are a subset
of the other's ("hugo" / "hugo boss") and tolerates typos ("adidas" / "addidas" ~ 92), while
brands that only share a word stay apart ("jack jones" / "jack wolfskin" ~ 57). An empty brand is
never blocked: such a query is compared with the whole index, and such an index offer is a
candidate for every query.

Search: vectors are assumed L2-normalised, so inner product = cosine similarity. Inside a block
the search is exact (``IndexFlatIP``) unless ``index_type`` asks for an approximate index AND the
block has at least ``ANN_MIN_SIZE`` offers: ``"ivf"`` (``IndexIVFFlat``, ``nlist = 4*sqrt(n)``,
``nprobe = IVF_NPROBE``) or ``"hnsw"`` (``IndexHNSWFlat``, M=32, ``efSearch = max(HNSW_EF_SEARCH,
2k)``). Exact flat indexes go to the GPU(s) when FAISS sees one and the block is large.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import faiss
import numpy as np
from rapidfuzz import fuzz, process

INDEX_TYPES = ("flat", "ivf", "hnsw")
ANN_MIN_SIZE = 10_000
GPU_MIN_SIZE = 50_000
IVF_NPROBE = 16
HNSW_M = 32
HNSW_EF_SEARCH = 128

SUB_BRAND_WORDS = frozenset(
    {
        "originals", "performance", "terrex", "sportswear", "sport", "sports", "jeans", "denim",
        "collection", "kids", "junior", "men", "women", "mens", "womens", "essentials", "studio",
        "the", "by", "and",
    }
)  # fmt: skip
CORPORATE_WORDS = frozenset(
    {"inc", "ltd", "limited", "gmbh", "co", "corp", "corporation", "llc", "ag", "sa", "srl", "plc"}
)


def brand_key(brand: str | None, *, aliases: Mapping[str, str] | None = None) -> str:
    """Key for blocking: accents stripped, case-folded, punctuation removed, sub-brand and
    corporate words (``SUB_BRAND_WORDS``, ``CORPORATE_WORDS``) dropped unless nothing else is
    left, then mapped through ``aliases`` (keys are normalised the same way first, e.g.
    ``{"jordan": "nike"}``). ``"adidas Originals"``, ``"ADIDAS TERREX"`` -> ``"adidas"``.
    """
    key = _base_key(brand)
    return _normalise_aliases(aliases).get(key, key) if aliases else key


def _base_key(brand: str | None) -> str:
    text = unicodedata.normalize("NFKD", brand or "")
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = re.sub(r"['\u2019`´]", "", text)
    text = text.replace("&", " and ")
    tokens = re.sub(r"[\W_]+", " ", text).split()
    kept = [t for t in tokens if t not in SUB_BRAND_WORDS and t not in CORPORATE_WORDS]
    return " ".join(kept or tokens)


def _normalise_aliases(aliases: Mapping[str, str] | None) -> dict[str, str]:
    return {_base_key(k): _base_key(v) for k, v in (aliases or {}).items()}


def _keys(brands: Sequence[str | None], aliases: Mapping[str, str] | None) -> list[str]:
    alias_map = _normalise_aliases(aliases)
    cache: dict[str | None, str] = {}
    out = []
    for b in brands:
        if b not in cache:
            key = _base_key(b)
            cache[b] = alias_map.get(key, key)
        out.append(cache[b])
    return out


def _block_keys(
    query_keys: Sequence[str], index_keys: Sequence[str], threshold: float
) -> dict[str, list[str]]:
    q_named = sorted({k for k in query_keys if k})
    i_all = sorted(set(index_keys))
    i_named = [k for k in i_all if k]
    scores = np.zeros((len(q_named), len(i_named)), dtype=np.float32)
    if q_named and i_named:
        scores = process.cdist(
            q_named, i_named, scorer=fuzz.token_set_ratio, dtype=np.float32, workers=-1
        )
    blocks: dict[str, list[str]] = {"": i_all} if "" in query_keys else {}
    for row, qk in enumerate(q_named):
        matched = {i_named[j] for j in np.flatnonzero(scores[row] >= threshold)}
        matched |= {qk, ""} & set(i_all)  # equal keys and unbranded index offers always match
        blocks[qk] = sorted(matched)
    return blocks


def block_pairs(
    *,
    query_brands: Sequence[str | None],
    index_brands: Sequence[str | None],
    threshold: float = 80,
    aliases: Mapping[str, str] | None = None,
) -> dict[str, list[str]]:
    """For every query brand key, the index brand keys it is compared with (see module doc)."""
    return _block_keys(_keys(query_brands, aliases), _keys(index_brands, aliases), threshold)


def blocking_recall(
    *,
    query_brands: Sequence[str | None],
    index_brands: Sequence[str | None],
    true_pairs: Sequence[tuple[int, int]],
    threshold: float = 80,
    aliases: Mapping[str, str] | None = None,
) -> float:
    """Share of true ``(query pos, index pos)`` pairs that blocking keeps (NaN if none)."""
    if not true_pairs:
        return float("nan")
    qk, ik = _keys(query_brands, aliases), _keys(index_brands, aliases)
    blocks = {k: set(v) for k, v in _block_keys(qk, ik, threshold).items()}
    kept = sum(ik[i] in blocks[qk[q]] for q, i in true_pairs)
    return kept / len(true_pairs)


@dataclass
class SearchResult:
    """Top-k per query: ``indices`` (nq, k) int64 index positions (-1: none), ``similarities``
    (nq, k) float32 cosine (-inf where none), and the number of query-index dot products an
    exhaustive search inside the blocks makes vs. without blocking."""

    indices: np.ndarray
    similarities: np.ndarray
    comparisons: int
    comparisons_unblocked: int


def _build_index(vecs: np.ndarray, *, index_type: str, k: int) -> faiss.Index:
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
        raise ValueError(f"index_type must be 'flat', 'ivf' or 'hnsw', got {index_type!r}")
    index.add(vecs)
    return index


def search(
    *,
    query_vecs: np.ndarray,
    index_vecs: np.ndarray,
    k: int = 3,
    query_brands: Sequence[str | None] | None = None,
    index_brands: Sequence[str | None] | None = None,
    brand_threshold: float = 80,
    index_type: str = "flat",
    aliases: Mapping[str, str] | None = None,
) -> SearchResult:
    """k nearest index offers per query, inside brand blocks when both brand lists are given.

    Queries are grouped by block so that each block's index is built once.
    """
    if index_type not in INDEX_TYPES:
        raise ValueError(f"index_type must be one of {INDEX_TYPES}, got {index_type!r}")
    q = np.ascontiguousarray(query_vecs, dtype=np.float32)
    x = np.ascontiguousarray(index_vecs, dtype=np.float32)
    nq, ni = len(q), len(x)
    indices = np.full((nq, k), -1, dtype=np.int64)
    sims = np.full((nq, k), -np.inf, dtype=np.float32)
    if (query_brands is None) != (index_brands is None):
        raise ValueError("give both query_brands and index_brands, or neither")
    if query_brands is None or index_brands is None:
        groups = [(np.arange(nq), np.arange(ni))]
    else:
        if len(query_brands) != nq or len(index_brands) != ni:
            raise ValueError("one brand per vector expected")
        groups = _blocked_groups(query_brands, index_brands, brand_threshold, aliases)
    comparisons = 0
    for q_rows, candidates in groups:
        if len(q_rows) == 0 or len(candidates) == 0:
            continue
        comparisons += len(q_rows) * len(candidates)
        index = _build_index(x[candidates], index_type=index_type, k=k)
        kk = min(k, len(candidates))
        d, local = index.search(q[q_rows], kk)
        found = local >= 0
        indices[q_rows, :kk] = np.where(found, candidates[np.maximum(local, 0)], -1)
        sims[q_rows, :kk] = np.where(found, d, -np.inf)
    return SearchResult(
        indices=indices, similarities=sims, comparisons=comparisons, comparisons_unblocked=nq * ni
    )


def _blocked_groups(
    query_brands: Sequence[str | None],
    index_brands: Sequence[str | None],
    threshold: float,
    aliases: Mapping[str, str] | None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(query rows, candidate index rows) per distinct candidate set."""
    qk, ik = _keys(query_brands, aliases), _keys(index_brands, aliases)
    blocks = _block_keys(qk, ik, threshold)
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
