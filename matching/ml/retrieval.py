"""Brand blocking (rapidfuzz) and nearest-neighbour search inside blocks (FAISS).

Blocking compares brand KEYS (:func:`brand_key`) with ``rapidfuzz.fuzz.token_set_ratio``
(0-100): equal keys always match; otherwise a query key and an index key form a block when their
score is ``>= threshold``. ``token_set_ratio`` scores 100 when the tokens of one key are a subset
of the other's ("hugo" / "hugo boss") and tolerates typos ("adidas" / "addidas" ~ 92), while
brands that only share a word stay apart ("jack jones" / "jack wolfskin" ~ 57). An empty brand is
never blocked: such a query is compared with the whole index, and such an index offer is a
candidate for every query.

Scoring (``one_to_one=False`` without texts and ``rescore="none"`` gives plain cosine top-k):

1. Shortlist: the ``shortlist`` (50) nearest index offers of every query by cosine, inside its
   block.
2. Sparse text similarity, when ``query_texts`` / ``index_texts`` are given: TF-IDF cosine of
   character 2-5-grams and words of the normalised text (:class:`SparseText`, fitted on the
   texts of both shops, no labels), mixed in as ``(1 - text_weight) * cos + text_weight * tfidf``.
   Catches what frozen sentence embeddings blur: model numbers, colour and brand words.
3. ``rescore="csls"`` (off by default: it helped text-only electronics a little but cost ~10
   AUCPR points on fashion, where most queries have no match and near-duplicate variants make
   the local density a poor reference): cross-domain similarity local scaling (Conneau et al.
   2018), halved to stay on the cosine scale: ``s(q, x) - (r_I(q) + r_Q(x)) / 2`` with
   ``r_I(q)`` the mean score of q's ``csls_k`` best index offers and ``r_Q(x)`` the mean score
   of x's ``csls_k`` best queries (inside the block).
4. ``one_to_one`` (default on): within a shop every offer is unique, so an index offer matches
   at most one query offer of a shop. Greedy assignment over all shortlisted pairs by
   decreasing score; a query whose candidates were all taken by better-scoring queries keeps its
   best candidate but its score drops by ``unassigned_penalty``. The assigned candidate is
   rank 1; the other ranks follow by score, capped at the rank-1 score so that scores never
   increase with rank. Scores are clipped to [-1, 1].

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
import scipy.sparse as sp
from rapidfuzz import fuzz, process

INDEX_TYPES = ("flat", "ivf", "hnsw")
ANN_MIN_SIZE = 10_000
GPU_MIN_SIZE = 50_000
IVF_NPROBE = 16
HNSW_M = 32
HNSW_EF_SEARCH = 128
RESCORE_MODES = ("none", "csls")
DEFAULT_SHORTLIST = 50
DEFAULT_CSLS_K = 10
DEFAULT_TEXT_WEIGHT = 0.5
IMAGE_TEXT_WEIGHT = 0.0
DEFAULT_UNASSIGNED_PENALTY = 0.5

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
    (nq, k) float32 match scores (-inf where none; the plain cosine when ``rescore="none"``,
    ``one_to_one=False`` and no texts, else the combined score in [-1, 1], see the module doc),
    the number of query-index dot products an exhaustive search inside the blocks makes vs.
    without blocking, and ``cosines`` (nq, k) the plain cosine of the same pairs."""

    indices: np.ndarray
    similarities: np.ndarray
    comparisons: int
    comparisons_unblocked: int
    cosines: np.ndarray | None = None


def text_weight_for(features: Sequence[str]) -> float:
    """Weight of the sparse text similarity for vectors made of these feature blocks.

    Without images the text is the main evidence and its exact tokens (model numbers) matter:
    0.5 (abt-buy best F1 0.84 -> 0.97, walmart-amazon 0.40 -> 0.57). With images the photos
    carry most of the signal and different products often share a near-identical title: 0
    (0.2 was within noise on the fashion dev set, +0.3 AUCPR in-domain and -0.4 out-of-domain;
    0.5 cost 1-4 points there), so the learned similarity is used alone.
    """
    return IMAGE_TEXT_WEIGHT if "image" in features else DEFAULT_TEXT_WEIGHT


_NON_WORD = re.compile(r"[^\w\s]+")


def normalise_for_tfidf(text: str | None) -> str:
    """NFKC, case-folded, punctuation removed without a gap (``"KX-TG1033S"`` ->
    ``"kxtg1033s"``, ``"Levi's"`` -> ``"levis"``), whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text or "").casefold()
    return " ".join(_NON_WORD.sub("", text).split())


class SparseText:
    """TF-IDF text vectors whose dot product is the mean of two cosines: character 2-5-grams
    inside word boundaries and whole words, on :func:`normalise_for_tfidf` text (sublinear tf,
    smooth idf). Fitted without labels, on the texts that are compared (both shops)."""

    def __init__(self) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        common = {"sublinear_tf": True, "dtype": np.float32, "lowercase": False}
        self.char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), **common)
        self.word = TfidfVectorizer(analyzer="word", token_pattern=r"(?u)\b\w+\b", **common)  # noqa: S106

    def fit(self, texts: Sequence[str | None]) -> SparseText:
        normalised = [normalise_for_tfidf(t) for t in texts]
        if not any(normalised):
            normalised = ["_"]
        self.char.fit(normalised)
        self.word.fit(normalised)
        return self

    def transform(self, texts: Sequence[str | None]) -> sp.csr_matrix:
        normalised = [normalise_for_tfidf(t) for t in texts]
        half = math.sqrt(0.5)
        blocks = [self.char.transform(normalised) * half, self.word.transform(normalised) * half]
        return sp.csr_matrix(sp.hstack(blocks, format="csr"), dtype=np.float32)


def pair_dot(
    a: sp.csr_matrix, b: sp.csr_matrix, rows_a: np.ndarray, rows_b: np.ndarray
) -> np.ndarray:
    """Row-wise dot products ``a[rows_a[i]] . b[rows_b[i]]`` (float32), in chunks."""
    rows_a, rows_b = np.asarray(rows_a).ravel(), np.asarray(rows_b).ravel()
    out = np.zeros(len(rows_a), dtype=np.float32)
    step = 200_000
    for s in range(0, len(rows_a), step):
        prod = a[rows_a[s : s + step]].multiply(b[rows_b[s : s + step]])
        out[s : s + step] = np.asarray(prod.sum(axis=1)).ravel()
    return out


def csls_rescore(
    scores: np.ndarray, forward_k_scores: np.ndarray, reverse_k_scores: np.ndarray
) -> np.ndarray:
    """Halved CSLS: ``scores[i, j] - (r_I[i] + r_Q[j]) / 2`` where ``r_I`` (``r_Q``) is the
    row mean of ``forward_k_scores`` (``reverse_k_scores``): each query's (index offer's) scores
    with its k best neighbours in the other shop. Non-finite entries are left out of the means
    (a row without any gives 0). ``scores`` is (n_q, n_x) or broadcastable."""
    return (
        scores
        - (
            _finite_row_mean(forward_k_scores)[:, None]
            + _finite_row_mean(reverse_k_scores)[None, :]
        )
        / 2
    )


def _finite_row_mean(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(values)
    total = np.where(ok, values, 0.0).sum(axis=1)
    return (total / np.maximum(ok.sum(axis=1), 1)).astype(np.float32)


def _top_k_rows(values: np.ndarray, k: int) -> np.ndarray:
    """The k largest values of each row (unordered; -inf padded when a row is shorter)."""
    if values.shape[1] <= k:
        return values
    return -np.partition(-values, k - 1, axis=1)[:, :k]


MAX_MUTUAL_ROUNDS = 64


def _sequential_greedy(
    live: np.ndarray,
    candidates: np.ndarray,
    open_q: np.ndarray,
    taken_items: np.ndarray,
    chosen: np.ndarray,
) -> None:
    rows, cols = np.nonzero(open_q[:, None] & np.isfinite(live))
    order = np.lexsort((cols, rows, -live[rows, cols]))
    for r, c in zip(rows[order].tolist(), cols[order].tolist(), strict=True):
        item = candidates[r, c]
        if open_q[r] and not taken_items[item]:
            chosen[r], open_q[r], taken_items[item] = c, False, True


def greedy_one_to_one(scores: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Greedy one-to-one assignment: ``scores`` / ``candidates`` (nq, K) shortlists (candidate
    -1 or score non-finite: none). Pairs are taken by decreasing score while neither side is
    taken yet (for distinct scores this is the greedy maximum-weight matching; computed as
    rounds of mutually best pairs). Returns the assigned shortlist column per query (-1: none).
    """
    nq = scores.shape[0]
    valid = (candidates >= 0) & np.isfinite(scores)
    live = np.where(valid, scores.astype(np.float64), -np.inf)
    chosen = np.full(nq, -1, dtype=np.int64)
    if not valid.any():
        return chosen
    n_items = int(candidates.max()) + 1
    # deterministic tie-breaking: lower query row, then lower column, wins
    rows = np.arange(nq)
    taken_items = np.zeros(n_items, dtype=bool)
    open_q = valid.any(axis=1)
    rounds = 0
    while open_q.any():
        rounds += 1
        if rounds > MAX_MUTUAL_ROUNDS:  # long chains: finish pair by pair (same result)
            _sequential_greedy(live, candidates, open_q, taken_items, chosen)
            break
        q_rows = rows[open_q]
        col = np.argmax(live[q_rows], axis=1)
        best = live[q_rows, col]
        ok = np.isfinite(best)
        open_q[q_rows[~ok]] = False
        q_rows, col, best = q_rows[ok], col[ok], best[ok]
        if not len(q_rows):
            break
        item = candidates[q_rows, col]
        # accept only mutually best pairs: the item's best live score over all open queries
        live_open = live[open_q]
        cand_open = candidates[open_q]
        fin = np.isfinite(live_open)
        item_best = np.full(n_items, -np.inf)
        np.maximum.at(item_best, cand_open[fin], live_open[fin])
        mutual = best >= item_best[item]
        q_rows, col, best, item = q_rows[mutual], col[mutual], best[mutual], item[mutual]
        # several queries tied on one item: the lowest row wins
        order = np.lexsort((q_rows, item))
        first = np.r_[True, item[order][1:] != item[order][:-1]] if len(order) else order
        win = order[first]
        chosen[q_rows[win]] = col[win]
        open_q[q_rows[win]] = False
        taken_items[item[win]] = True
        # remove taken items from every open shortlist
        taken_mask = taken_items[np.maximum(candidates, 0)] & (candidates >= 0)
        live[taken_mask] = -np.inf
    return chosen


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
    rescore: str = "none",
    one_to_one: bool = True,
    query_texts: Sequence[str | None] | None = None,
    index_texts: Sequence[str | None] | None = None,
    text_weight: float = DEFAULT_TEXT_WEIGHT,
    shortlist: int = DEFAULT_SHORTLIST,
    csls_k: int = DEFAULT_CSLS_K,
    unassigned_penalty: float = DEFAULT_UNASSIGNED_PENALTY,
    csls_query_weight: float = 1.0,
    csls_index_weight: float = 1.0,
) -> SearchResult:
    """k best index offers per query, inside brand blocks when both brand lists are given.

    Queries are grouped by block so that each block's index is built once. Scoring: see the
    module doc (``rescore="none"``, ``one_to_one=False`` and no texts: plain cosine top-k).
    """
    if index_type not in INDEX_TYPES:
        raise ValueError(f"index_type must be one of {INDEX_TYPES}, got {index_type!r}")
    rescore = rescore or "none"
    if rescore not in RESCORE_MODES:
        raise ValueError(f"rescore must be one of {RESCORE_MODES}, got {rescore!r}")
    if (query_texts is None) != (index_texts is None):
        raise ValueError("give both query_texts and index_texts, or neither")
    q = np.ascontiguousarray(query_vecs, dtype=np.float32)
    x = np.ascontiguousarray(index_vecs, dtype=np.float32)
    nq, ni = len(q), len(x)
    if (query_brands is None) != (index_brands is None):
        raise ValueError("give both query_brands and index_brands, or neither")
    unbranded = branded_queries = np.zeros(0, dtype=np.int64)
    if query_brands is None or index_brands is None:
        groups = [(np.arange(nq), np.arange(ni))]
    else:
        if len(query_brands) != nq or len(index_brands) != ni:
            raise ValueError("one brand per vector expected")
        groups, unbranded, branded_queries = _blocked_groups(
            query_brands,
            index_brands,
            brand_threshold,
            aliases,
            split_unbranded=rescore == "none",  # CSLS needs each block's whole neighbourhood
        )
    texts = None
    if query_texts is not None and index_texts is not None and text_weight > 0:
        if len(query_texts) != nq or len(index_texts) != ni:
            raise ValueError("one text per vector expected")
        sparse = SparseText().fit([*query_texts, *index_texts])
        texts = (sparse.transform(query_texts), sparse.transform(index_texts))
    plain = rescore == "none" and not one_to_one and texts is None
    width = k if plain else max(k, shortlist)
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
        """Top-`width` candidates of q_rows: (index rows or -1, cosines, scores)."""
        index = _build_index(x[candidates], index_type=index_type, k=width)
        d, local = index.search(q[q_rows], min(width, len(candidates)))
        found = local >= 0
        rows_x = np.where(found, candidates[np.maximum(local, 0)], -1)
        d = np.where(found, d, -np.inf).astype(np.float32)
        return rows_x, d, combined(d, np.broadcast_to(q_rows[:, None], rows_x.shape), rows_x)

    comparisons = 0
    for q_rows, candidates in groups:
        if len(q_rows) == 0 or len(candidates) == 0:
            continue
        comparisons += len(q_rows) * len(candidates)
        rows_x, d, score = search_block(q_rows, candidates)
        found = rows_x >= 0
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
            r_i = _finite_row_mean(_top_k_rows(score, csls_k))
            r_q_local = _finite_row_mean(_top_k_rows(s2, csls_k))
            r_q = np.zeros(ni, dtype=np.float32)
            r_q[candidates] = r_q_local
            score = np.where(
                found,
                score
                - (
                    csls_query_weight * r_i[:, None]
                    + csls_index_weight * r_q[np.maximum(rows_x, 0)]
                )
                / 2,
                -np.inf,
            ).astype(np.float32)
        cand_idx[q_rows, :kk] = rows_x
        cand_cos[q_rows, :kk] = d
        cand_score[q_rows, :kk] = score
    if len(unbranded) and len(branded_queries):
        # Unbranded index offers are candidates of every branded query: one search, then merge.
        comparisons += len(branded_queries) * len(unbranded)
        rows_x, d, score = search_block(branded_queries, unbranded)
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
    indices, sims, cosines = _final_ranking(
        cand_idx, cand_score, cand_cos, k=k, one_to_one=one_to_one, penalty=unassigned_penalty
    )
    return SearchResult(
        indices=indices,
        similarities=sims,
        comparisons=comparisons,
        comparisons_unblocked=nq * ni,
        cosines=cosines,
    )


def _final_ranking(
    cand_idx: np.ndarray,
    cand_score: np.ndarray,
    cand_cos: np.ndarray,
    *,
    k: int,
    one_to_one: bool,
    penalty: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    nq = len(cand_idx)
    score = np.where(cand_idx >= 0, cand_score, -np.inf)
    order = np.argsort(-score, axis=1, kind="stable")
    score = np.take_along_axis(score, order, axis=1)
    idx = np.take_along_axis(cand_idx, order, axis=1)
    cos = np.take_along_axis(cand_cos, order, axis=1)
    if one_to_one and nq:
        chosen = greedy_one_to_one(score, idx)
        assigned = chosen >= 0
        # move the assigned candidate to rank 1, keep the others in score order
        first = np.where(np.arange(score.shape[1])[None, :] == chosen[:, None], 0, 1)
        new_order = np.argsort(first, axis=1, kind="stable")
        score = np.take_along_axis(score, new_order, axis=1)
        idx = np.take_along_axis(idx, new_order, axis=1)
        cos = np.take_along_axis(cos, new_order, axis=1)
        top = score[:, :1].copy()
        score = np.minimum(score, top)  # never above the rank-1 score
        score[~assigned] -= penalty
    score = np.where(np.isfinite(score), np.clip(score, -1.0, 1.0), -np.inf)
    k_eff = min(k, score.shape[1])
    out_idx = np.full((nq, k), -1, dtype=np.int64)
    out_sim = np.full((nq, k), -np.inf, dtype=np.float32)
    out_cos = np.full((nq, k), -np.inf, dtype=np.float32)
    out_idx[:, :k_eff] = idx[:, :k_eff]
    out_sim[:, :k_eff] = score[:, :k_eff]
    out_cos[:, :k_eff] = cos[:, :k_eff]
    return out_idx, out_sim, out_cos


def _blocked_groups(
    query_brands: Sequence[str | None],
    index_brands: Sequence[str | None],
    threshold: float,
    aliases: Mapping[str, str] | None,
    *,
    split_unbranded: bool = False,
) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray, np.ndarray]:
    """(query rows, candidate index rows) per distinct candidate set.

    With ``split_unbranded`` the unbranded index offers are left out of the branded queries'
    blocks and returned apart (with those queries), to be searched once for all of them
    instead of once per block. Returns (groups, unbranded index rows, branded query rows).
    """
    qk, ik = _keys(query_brands, aliases), _keys(index_brands, aliases)
    blocks = _block_keys(qk, ik, threshold)
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
