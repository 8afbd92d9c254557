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
from .text_pair_features import TEXT_FEATURE_NAMES, Title, text_pair_features
from .text_similarity import SparseText, normalise_for_tfidf, pair_dot

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


def _row_dot(a: np.ndarray | None, b: np.ndarray | None, qp, xp) -> np.ndarray:
    if a is None or b is None:
        return np.full(len(qp), np.nan, dtype=np.float32)
    out = np.einsum("ij,ij->i", a[qp], b[xp]).astype(np.float32)
    empty = (np.abs(a[qp]).sum(axis=1) == 0) | (np.abs(b[xp]).sum(axis=1) == 0)
    out[empty] = np.nan
    return out


def _log_price(p) -> float:
    try:
        v = float(p)
    except (TypeError, ValueError):
        return math.nan
    return math.log(v) if math.isfinite(v) and v > 0 else math.nan


def _jaccard(a: frozenset, b: frozenset) -> float:
    if not a or not b:
        return math.nan
    return len(a & b) / len(a | b)


def _codes(text: str | None) -> frozenset:
    return frozenset(_CODE.findall(normalise_for_tfidf(text)))


def _brand_scores(q_keys, x_keys, qp, xp) -> np.ndarray:
    from rapidfuzz import fuzz

    cache: dict[tuple[str, str], float] = {}
    out = np.full(len(qp), np.nan, dtype=np.float32)
    for n, (i, j) in enumerate(zip(qp, xp, strict=True)):
        a, b = q_keys[i] or "", x_keys[j] or ""
        if not a or not b:
            continue
        key = (a, b)
        if key not in cache:
            cache[key] = fuzz.token_set_ratio(a, b) / 100.0
        out[n] = cache[key]
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
    qp_grid = np.broadcast_to(np.arange(nq)[:, None], cand_idx.shape)
    q_pos, k_pos = np.nonzero(valid)
    qp, xp = q_pos, cand_idx[q_pos, k_pos]
    with timed(timings, "tfidf"):
        if sparse is None:
            sparse = SparseText().fit([*query.texts, *index.texts])
        tq, tx = sparse.transform(query.texts), sparse.transform(index.texts)
        tfidf = np.zeros(cand_idx.shape, dtype=np.float32)
        tfidf[q_pos, k_pos] = pair_dot(tq, tx, qp, xp)
    with timed(timings, "dots"):
        cosine = np.full(cand_idx.shape, np.nan, dtype=np.float32)
        cosine[q_pos, k_pos] = np.einsum(
            "ij,ij->i", np.asarray(query.vectors)[qp], np.asarray(index.vectors)[xp]
        )
        image_dot = _row_dot(query.image, index.image, qp, xp)
        text_dot = _row_dot(query.text, index.text, qp, xp)
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
        del qp_grid
    with timed(timings, "brand"):
        brand = _brand_scores(query.brand_keys, index.brand_keys, qp, xp)
    with timed(timings, "offer_columns"):
        lp_q = np.array([_log_price(p) for p in query.prices], dtype=np.float64)
        lp_x = np.array([_log_price(p) for p in index.prices], dtype=np.float64)
        sz_q = [frozenset(s_ or ()) for s_ in query.sizes]
        sz_x = [frozenset(s_ or ()) for s_ in index.sizes]
        code_q = [_codes(text) for text in query.texts]
        code_x = [_codes(text) for text in index.texts]
        code = np.array([_jaccard(code_q[i], code_x[j]) for i, j in zip(qp, xp, strict=True)])
        code_conflict = np.where(np.isnan(code), np.nan, (code == 0).astype(np.float64))
        both = [
            (query.categories[i] or "", index.categories[j] or "")
            for i, j in zip(qp, xp, strict=True)
        ]
        same_cat = np.array([np.nan if not a or not b else float(a == b) for a, b in both])
        n_images = (
            np.full(len(qp), np.nan)
            if query.n_images is None or index.n_images is None
            else np.asarray(query.n_images)[qp] + np.asarray(index.n_images)[xp]
        )
        sizes = np.array([_jaccard(sz_q[i], sz_x[j]) for i, j in zip(qp, xp, strict=True)])
    columns = [
        score[q_pos, k_pos],
        cosine[q_pos, k_pos],
        image_dot,
        text_dot,
        tfidf[q_pos, k_pos],
        brand,
        np.abs(lp_q[qp] - lp_x[xp]),
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
        titles_q = [Title.of(text) for text in query.texts]
        titles_x = {int(j): Title.of(index.texts[j]) for j in np.unique(xp)}
        text_x = text_pair_features(titles_q, titles_x, qp, xp)
    x = np.column_stack([*(np.asarray(c, dtype=np.float32) for c in columns), text_x])
    return x, q_pos, k_pos
