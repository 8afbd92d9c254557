"""The discriminator's pair features and TF-IDF as they were before the vectorised fast path
(commit 3341200): the straightforward reference the tests compare the fast code with, value
for value. Not used by the application."""

# ruff: noqa
from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from matching.ml.pair_features import Side
from matching.ml.text_pair_features import TEXT_FEATURE_NAMES, is_code
from matching.ml.text_similarity import normalise_for_tfidf, pair_dot

_CODE = re.compile(r"\w*\d\w*")


class SparseText:
    """TF-IDF text vectors whose dot product is the mean of two cosines: character 2-5-grams
    inside word boundaries and whole words, on :func:`normalise_for_tfidf` text (sublinear tf,
    smooth idf). Fitted without labels, on the texts that are compared (both shops).

    ``canonical=True``: the texts first go through
    :func:`~matching.ml.text_normalise.canonical_title` (German/French colour, garment, gender
    and fashion words -> English), for shops that title in different languages."""

    def __init__(self, *, canonical: bool = False) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.canonical = canonical
        common = {"sublinear_tf": True, "dtype": np.float32, "lowercase": False}
        self.char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), **common)
        self.word = TfidfVectorizer(analyzer="word", token_pattern=r"(?u)\b\w+\b", **common)  # noqa: S106

    def _normalise(self, texts: Sequence[str | None]) -> list[str]:
        if self.canonical:
            from matching.ml.text_normalise import canonical_title

            texts = [canonical_title(t) for t in texts]
        return [normalise_for_tfidf(t) for t in texts]

    def fit(self, texts: Sequence[str | None]) -> SparseText:
        normalised = self._normalise(texts)
        if not any(normalised):
            normalised = ["_"]
        self.char.fit(normalised)
        self.word.fit(normalised)
        return self

    def transform(self, texts: Sequence[str | None]) -> sp.csr_matrix:
        normalised = self._normalise(texts)
        half = math.sqrt(0.5)
        blocks = [self.char.transform(normalised) * half, self.word.transform(normalised) * half]
        return sp.csr_matrix(sp.hstack(blocks, format="csr"), dtype=np.float32)


@dataclass(frozen=True)
class Title:
    """What the pair features need of one title."""

    words: frozenset
    n_words: int
    codes: tuple[str, ...]
    compact: str

    @classmethod
    def of(cls, text: str | None) -> Title:
        tokens = normalise_for_tfidf(text).split()
        return cls(
            words=frozenset(tokens),
            n_words=len(tokens),
            codes=tuple(sorted({t for t in tokens if is_code(t)})),
            compact="".join(tokens),
        )


def _found(codes: Sequence[str], compact: str) -> tuple[float, int]:
    """(share of ``codes`` occurring in ``compact``, length of the longest that does)."""
    if not codes:
        return math.nan, 0
    hits = [c for c in codes if c in compact]
    return len(hits) / len(codes), max((len(c) for c in hits), default=0)


def _contained(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a) if a and b else math.nan


def text_pair_features(
    query_titles: Sequence[Title], index_titles: Sequence[Title] | Mapping[int, Title], qp, xp
) -> np.ndarray:
    """(n_pairs, len(TEXT_FEATURE_NAMES)) float32 for the pairs (query row, index row)."""
    out = np.full((len(qp), len(TEXT_FEATURE_NAMES)), np.nan, dtype=np.float32)
    for n, (i, j) in enumerate(zip(qp, xp, strict=True)):
        q, c = query_titles[i], index_titles[j]
        in_c, long_q = _found(q.codes, c.compact)
        in_q, long_c = _found(c.codes, q.compact)
        out[n, 0], out[n, 1] = in_c, in_q
        if q.codes or c.codes:
            out[n, 2] = max(long_q, long_c)
        out[n, 3] = _contained(q.words, c.words)
        out[n, 4] = _contained(c.words, q.words)
        if q.n_words and c.n_words:
            out[n, 5] = abs(math.log(q.n_words / c.n_words))
    return out


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
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features of every valid pair of the shortlist: ``(X, q_pos, k_pos)`` with X (n_pairs,
    len(FEATURE_NAMES)) float32 and the pair's (query row, shortlist column). ``sparse``: a
    TF-IDF already fitted on both sides' texts (fitted here when None)."""
    cand_idx = np.asarray(cand_idx, dtype=np.int64)
    score = np.asarray(cand_score, dtype=np.float32)
    valid = cand_idx >= 0
    nq, width = cand_idx.shape
    qp_grid = np.broadcast_to(np.arange(nq)[:, None], cand_idx.shape)
    q_pos, k_pos = np.nonzero(valid)
    qp, xp = q_pos, cand_idx[q_pos, k_pos]
    if sparse is None:
        sparse = SparseText().fit([*query.texts, *index.texts])
    tq, tx = sparse.transform(query.texts), sparse.transform(index.texts)
    tfidf = np.zeros(cand_idx.shape, dtype=np.float32)
    tfidf[q_pos, k_pos] = pair_dot(tq, tx, qp, xp)
    cosine = np.full(cand_idx.shape, np.nan, dtype=np.float32)
    cosine[q_pos, k_pos] = np.einsum(
        "ij,ij->i", np.asarray(query.vectors)[qp], np.asarray(index.vectors)[xp]
    )
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
    lp_q = np.array([_log_price(p) for p in query.prices], dtype=np.float64)
    lp_x = np.array([_log_price(p) for p in index.prices], dtype=np.float64)
    sz_q = [frozenset(s_ or ()) for s_ in query.sizes]
    sz_x = [frozenset(s_ or ()) for s_ in index.sizes]
    code_q = [_codes(text) for text in query.texts]
    code_x = [_codes(text) for text in index.texts]
    code = np.array([_jaccard(code_q[i], code_x[j]) for i, j in zip(qp, xp, strict=True)])
    code_conflict = np.where(np.isnan(code), np.nan, (code == 0).astype(np.float64))
    both = [
        (query.categories[i] or "", index.categories[j] or "") for i, j in zip(qp, xp, strict=True)
    ]
    same_cat = np.array([np.nan if not a or not b else float(a == b) for a, b in both])
    n_images = (
        np.full(len(qp), np.nan)
        if query.n_images is None or index.n_images is None
        else np.asarray(query.n_images)[qp] + np.asarray(index.n_images)[xp]
    )
    columns = [
        score[q_pos, k_pos],
        cosine[q_pos, k_pos],
        _row_dot(query.image, index.image, qp, xp),
        _row_dot(query.text, index.text, qp, xp),
        tfidf[q_pos, k_pos],
        _brand_scores(query.brand_keys, index.brand_keys, qp, xp),
        np.abs(lp_q[qp] - lp_x[xp]),
        np.array([_jaccard(sz_q[i], sz_x[j]) for i, j in zip(qp, xp, strict=True)]),
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
    titles_q = [Title.of(text) for text in query.texts]
    titles_x = {int(j): Title.of(index.texts[j]) for j in np.unique(xp)}
    text_x = text_pair_features(titles_q, titles_x, qp, xp)
    x = np.column_stack([*(np.asarray(c, dtype=np.float32) for c in columns), text_x])
    return x, q_pos, k_pos
