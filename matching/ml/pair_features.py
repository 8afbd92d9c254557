"""Pair features of (query, candidate) shortlists, for the pair discriminator (no Django).

A :class:`Side` holds what one side of a search (the query offers or the index offers) knows
per offer; :func:`pair_features` turns a shortlist ``cand_idx`` (nq, K) of index positions
(-1: none), ordered by the search score, into one row per (query, candidate) pair with the
columns :data:`FEATURE_NAMES`. NaN marks a value that is unknown (no price, no sizes, no
image ...); the classifier handles NaN natively.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .stage_timer import timed
from .text_pair_features import TEXT_FEATURE_NAMES, Title, set_overlaps, text_pair_features
from .text_similarity import SparseText, normalise_all, pair_dot

FEATURE_NAMES = (
    "score",  # the search score (cosine, or cosine mixed with TF-IDF)
    "cosine",  # cosine of the compared (projected or raw) vectors
    "image_cosine",  # raw image embeddings (NaN: no image features or no image)
    "text_cosine",  # raw text embeddings (NaN: no text features)
    "tfidf",  # character n-gram + word TF-IDF cosine of the normalised texts
    "brand",  # token-set ratio of the brand keys / 100 (NaN: a key is empty)
    "log_price_ratio",  # |log(price_q / price_c)| (NaN: a price is missing)
    "size_overlap",  # Jaccard of the size lists (NaN: a list is empty)
    "same_category",  # 1 / 0 (NaN: a category is empty)
    "code_overlap",  # Jaccard of the tokens with digits (model numbers; NaN: neither has one)
    "code_conflict",  # both have codes and share none
    "rank",  # 0-based position in the shortlist
    "gap_to_best",  # best score in the shortlist minus this one
    "margin_next",  # this score minus the next one (0 for the last)
    "tfidf_gap_to_best",  # best TF-IDF in the shortlist minus this one
    "reciprocal_gap",  # best score of any query listing this candidate minus this one
    "n_images",  # images of the query + the candidate (NaN: no image features)
    *TEXT_FEATURE_NAMES,  # model codes and word containment (matching/ml/text_pair_features.py)
)

_CODE = re.compile(r"\w*\d\w*")
#: pairs per block of the row-wise dot products of raw embeddings (two gathered blocks of
#: 1280-d image rows stay within a few MB, in cache)
DOT_CHUNK = 512


@dataclass
class Side:
    """Per-offer inputs of one side, all in the same order. ``image`` / ``text``: raw
    L2-normalised embeddings or None; ``n_images`` None without image features."""

    vectors: np.ndarray
    texts: Sequence[str | None]
    brand_keys: Sequence[str | None]
    prices: Sequence[float | None]
    sizes: Sequence[Sequence[str] | None]
    categories: Sequence[str | None]
    image: np.ndarray | None = None
    text: np.ndarray | None = None
    n_images: np.ndarray | None = None

    def subset(self, rows: Sequence[int]) -> Side:
        rows = list(rows)

        def pick(values):
            return None if values is None else [values[i] for i in rows]

        def arr(values):
            return None if values is None else np.asarray(values)[rows]

        return Side(
            vectors=np.asarray(self.vectors)[rows],
            texts=pick(self.texts),
            brand_keys=pick(self.brand_keys),
            prices=pick(self.prices),
            sizes=pick(self.sizes),
            categories=pick(self.categories),
            image=arr(self.image),
            text=arr(self.text),
            n_images=arr(self.n_images),
        )


def _row_dot(a: np.ndarray | None, b: np.ndarray | None, qp, xp, uq, ux) -> np.ndarray:
    """Row-wise dots of ``a[qp]`` and ``b[xp]`` (NaN where either row is all zero); whether a
    row is empty is decided once per offer (``uq`` / ``ux``: the distinct rows)."""
    if a is None or b is None:
        return np.full(len(qp), np.nan, dtype=np.float32)
    out = np.empty(len(qp), dtype=np.float32)
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    # the pairs' rows are gathered block by block into two buffers allocated once (a gathered
    # copy of every pair's rows costs more than the products); each row's sum is unchanged
    size = min(DOT_CHUNK, len(qp))
    buf_a = np.empty((size, a.shape[1]), dtype=a.dtype)
    buf_b = np.empty((size, b.shape[1]), dtype=b.dtype)
    for s in range(0, len(qp), DOT_CHUNK):
        rows = slice(s, s + DOT_CHUNK)
        n = len(qp[rows])
        np.take(a, qp[rows], axis=0, out=buf_a[:n])
        np.take(b, xp[rows], axis=0, out=buf_b[:n])
        out[rows] = np.einsum("ij,ij->i", buf_a[:n], buf_b[:n])
    empty_a = np.zeros(len(a), dtype=bool)
    empty_a[uq] = np.abs(a[uq]).sum(axis=1) == 0
    empty_b = np.zeros(len(b), dtype=bool)
    empty_b[ux] = np.abs(b[ux]).sum(axis=1) == 0
    out[empty_a[qp] | empty_b[xp]] = np.nan
    return out


def _log_price(p) -> float:
    try:
        v = float(p)
    except (TypeError, ValueError):
        return math.nan
    return math.log(v) if math.isfinite(v) and v > 0 else math.nan


def _jaccard(sets_a, sets_b, ia, ib) -> np.ndarray:
    """Jaccard of the pairs' sets, NaN where one is empty (float64)."""
    inter, na, nb = set_overlaps(sets_a, sets_b, ia, ib)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((na > 0) & (nb > 0), inter / np.maximum(na + nb - inter, 1), np.nan)


def _brand_scores(q_keys, x_keys, qi, xi) -> np.ndarray:
    """Token-set ratio / 100 of the pairs' brand keys (NaN: one is empty), once per distinct
    pair of keys (``q_keys`` / ``x_keys``: the keys of the distinct offers)."""
    from rapidfuzz import fuzz

    out = np.full(len(qi), np.nan, dtype=np.float32)
    ids: dict[str, int] = {}
    kq = np.array([ids.setdefault(k or "", len(ids)) for k in q_keys], dtype=np.int64)
    kx = np.array([ids.setdefault(k or "", len(ids)) for k in x_keys], dtype=np.int64)
    names = list(ids)
    a, b = kq[qi], kx[xi]
    ok = np.array([bool(name) for name in names])
    both = ok[a] & ok[b] if len(names) else np.zeros(len(qi), dtype=bool)
    pairs, inverse = np.unique(np.stack([a[both], b[both]], axis=1), axis=0, return_inverse=True)
    scores = [fuzz.token_set_ratio(names[i], names[j]) / 100.0 for i, j in pairs.tolist()]
    out[both] = np.asarray(scores, dtype=np.float64)[inverse.ravel()] if scores else 0.0
    return out


def _in_list(values: np.ndarray, valid: np.ndarray, fill: float) -> np.ndarray:
    return np.where(valid, values, fill)


@np.errstate(invalid="ignore")  # -inf - -inf (a pair the search could not score) is NaN
def pair_features(
    *,
    query: Side,
    index: Side,
    cand_idx: np.ndarray,
    cand_score: np.ndarray,
    sparse: SparseText | None = None,
    timings: dict[str, float] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features of every valid pair of the shortlist: ``(X, q_pos, k_pos)`` with X (n_pairs,
    len(FEATURE_NAMES)) float32 and the pair's (query row, shortlist column). ``sparse``: a
    TF-IDF already fitted on both sides' texts (fitted here when None). ``timings``: seconds
    per stage are added to it (:func:`~matching.ml.stage_timer.timed`)."""
    cand_idx = np.asarray(cand_idx, dtype=np.int64)
    score = np.asarray(cand_score, dtype=np.float32)
    valid = cand_idx >= 0
    nq, width = cand_idx.shape
    q_pos, k_pos = np.nonzero(valid)
    qp, xp = q_pos, cand_idx[q_pos, k_pos]
    # everything per offer is computed once, for the offers that are in a pair
    uq, qi = np.unique(qp, return_inverse=True)
    ux, xi = np.unique(xp, return_inverse=True)
    with timed(timings, "tfidf"):
        if sparse is None:  # fitted on every text of both sides: the normalised texts of all
            norm_q, norm_x = normalise_all(query.texts), normalise_all(index.texts)
            sparse = SparseText().fit_normalised([*norm_q, *norm_x])
            norm_q, norm_x = [norm_q[i] for i in uq], [norm_x[j] for j in ux]
        else:  # the fit has normalised them already
            norm_q = sparse.normalised([query.texts[i] for i in uq])
            norm_x = sparse.normalised([index.texts[j] for j in ux])
        tq, tx = sparse.transform_normalised(norm_q), sparse.transform_normalised(norm_x)
        tfidf = np.zeros(cand_idx.shape, dtype=np.float32)
        tfidf[q_pos, k_pos] = pair_dot(tq, tx, qi, xi)
    with timed(timings, "dots"):
        cosine = np.full(cand_idx.shape, np.nan, dtype=np.float32)
        cosine[q_pos, k_pos] = np.einsum(
            "ij,ij->i", np.asarray(query.vectors)[qp], np.asarray(index.vectors)[xp]
        )
        image_dot = _row_dot(query.image, index.image, qp, xp, uq, ux)
        text_dot = _row_dot(query.text, index.text, qp, xp, uq, ux)
    with timed(timings, "shortlist_columns"):
        # shortlist-relative columns (order of the shortlist = order of the search score)
        s = _in_list(score, valid, -np.inf)
        best = s.max(axis=1, keepdims=True)
        nxt = np.concatenate([s[:, 1:], np.full((nq, 1), -np.inf, dtype=np.float32)], axis=1)
        with np.errstate(invalid="ignore"):
            margin = np.where(np.isfinite(nxt) & np.isfinite(s), s - nxt, 0.0)
        t = _in_list(tfidf, valid, -np.inf)
        reciprocal = np.full(len(index.vectors), -np.inf, dtype=np.float32)
        np.maximum.at(reciprocal, xp, score[q_pos, k_pos])
        rank = np.zeros(cand_idx.shape, dtype=np.float32) + np.arange(width, dtype=np.float32)
    with timed(timings, "brand"):
        brand = _brand_scores(
            [query.brand_keys[i] for i in uq], [index.brand_keys[j] for j in ux], qi, xi
        )
    with timed(timings, "offer_columns"):
        lp_q = np.array([_log_price(query.prices[i]) for i in uq], dtype=np.float64)
        lp_x = np.array([_log_price(index.prices[j]) for j in ux], dtype=np.float64)
        sizes = _jaccard(
            [query.sizes[i] or () for i in uq], [index.sizes[j] or () for j in ux], qi, xi
        )
        code = _jaccard(
            [_CODE.findall(n) for n in norm_q], [_CODE.findall(n) for n in norm_x], qi, xi
        )
        code_conflict = np.where(np.isnan(code), np.nan, (code == 0).astype(np.float64))
        cat_ids: dict[str, int] = {"": -1}
        cq = np.array([cat_ids.setdefault(query.categories[i] or "", len(cat_ids)) for i in uq])
        cx = np.array([cat_ids.setdefault(index.categories[j] or "", len(cat_ids)) for j in ux])
        a, b = cq[qi], cx[xi]
        same_cat = np.where((a >= 0) & (b >= 0), (a == b).astype(np.float64), np.nan)
        n_images = (
            np.full(len(qp), np.nan)
            if query.n_images is None or index.n_images is None
            else np.asarray(query.n_images)[qp] + np.asarray(index.n_images)[xp]
        )
    columns = [
        score[q_pos, k_pos],
        cosine[q_pos, k_pos],
        image_dot,
        text_dot,
        tfidf[q_pos, k_pos],
        brand,
        np.abs(lp_q[qi] - lp_x[xi]),
        sizes,
        same_cat,
        code,
        code_conflict,
        rank[q_pos, k_pos],
        (best - s)[q_pos, k_pos],
        margin[q_pos, k_pos],
        (t.max(axis=1, keepdims=True) - t)[q_pos, k_pos],
        reciprocal[xp] - score[q_pos, k_pos],
        n_images,
    ]
    with timed(timings, "title"):
        titles_q = [Title.of_normalised(n) for n in norm_q]
        titles_x = [Title.of_normalised(n) for n in norm_x]
        text_x = text_pair_features(titles_q, titles_x, qi, xi)
    x = np.column_stack([*(np.asarray(c, dtype=np.float32) for c in columns), text_x])
    return x, q_pos, k_pos
