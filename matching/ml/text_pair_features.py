"""Title pair features that do not depend on a catalogue's wording (no Django): model codes
and word containment, for :mod:`matching.ml.pair_features`.

A *code* is a token of :func:`~matching.ml.text_similarity.normalise_for_tfidf` text (dashes
and dots already removed: ``"ELP-LP12"`` -> ``"elplp12"``) that holds a digit and is specific
enough to name a model: letters and digits and at least 4 characters, or at least 5 digits.
A code is *found* in the other title when it occurs in that title with all spaces removed
(``"elplp12"`` in ``"epson elp lp12 lamp"``), so a code split or joined differently by the
other shop still counts. Everything here is per pair and word-level; NaN marks a pair where the
feature is undefined (a title without codes, an empty title).
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .text_similarity import normalise_for_tfidf

TEXT_FEATURE_NAMES = (
    "code_in_candidate",  # share of the query's codes found in the candidate's title
    "code_in_query",  # share of the candidate's codes found in the query's title
    "longest_code_found",  # characters of the longest code of either found in the other
    "words_in_candidate",  # share of the query's words that are words of the candidate
    "words_in_query",  # share of the candidate's words that are words of the query
    "log_length_ratio",  # |log(words of the query / words of the candidate)|
)

_DIGIT = re.compile(r"\d")
_LETTER = re.compile(r"[^\W\d_]")


def is_code(token: str) -> bool:
    """A model-number-like token (see the module doc)."""
    if not _DIGIT.search(token):
        return False
    if _LETTER.search(token):
        return len(token) >= 4
    return len(token) >= 5


@dataclass(frozen=True)
class Title:
    """What the pair features need of one title."""

    words: frozenset
    n_words: int
    codes: tuple[str, ...]
    compact: str

    @classmethod
    def of(cls, text: str | None) -> Title:
        return cls.of_normalised(normalise_for_tfidf(text))

    @classmethod
    def of_normalised(cls, normalised: str) -> Title:
        """:meth:`of` a text already through :func:`normalise_for_tfidf`."""
        tokens = normalised.split()
        return cls(
            words=frozenset(tokens),
            n_words=len(tokens),
            codes=tuple(sorted({t for t in tokens if is_code(t)})),
            compact="".join(tokens),
        )


def set_overlaps(
    sets_a: Sequence[Collection], sets_b: Sequence[Collection], ia: np.ndarray, ib: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(|A & B|, |A|, |B|)`` (int64) of the pairs ``(sets_a[ia[n]], sets_b[ib[n]])``: each
    set becomes a row of a 0/1 sparse matrix over one shared vocabulary, and the intersections
    are row-wise products of those rows (exact integers)."""
    vocabulary: dict = {}

    def binary(sets: Sequence[Collection]) -> tuple[list, list]:
        indptr, indices = [0], []
        for items in sets:
            indices.extend(vocabulary.setdefault(item, len(vocabulary)) for item in set(items))
            indptr.append(len(indices))
        return indptr, indices

    built = [binary(sets_a), binary(sets_b)]
    a, b = (
        sp.csr_matrix(
            (np.ones(len(indices), dtype=np.int64), indices, indptr),
            shape=(len(indptr) - 1, max(len(vocabulary), 1)),
        )
        for indptr, indices in built
    )
    ia, ib = np.asarray(ia, dtype=np.int64), np.asarray(ib, dtype=np.int64)
    inter = np.asarray(a[ia].multiply(b[ib]).sum(axis=1), dtype=np.int64).ravel()
    return inter, np.diff(a.indptr)[ia], np.diff(b.indptr)[ib]


def _found(codes: Sequence[tuple[str, ...]], compact: np.ndarray, ia, ib):
    """Per pair n: (share of ``codes[ia[n]]`` occurring in ``compact[ib[n]]``, NaN without
    codes; length of the longest that does, 0 if none). One substring test per (pair, code)."""
    n = len(ia)
    per_offer = np.fromiter(map(len, codes), dtype=np.int64, count=len(codes))
    k = per_offer[ia]
    total = int(k.sum())
    pair_of = np.repeat(np.arange(n), k)
    offsets = np.concatenate([[0], np.cumsum(per_offer)])
    first = np.cumsum(k) - k
    code_at = offsets[ia][pair_of] + (np.arange(total) - first[pair_of])
    flat = [c for cs in codes for c in cs]
    others = ib[pair_of].tolist()
    hits = np.fromiter(
        (flat[c] in compact[j] for c, j in zip(code_at.tolist(), others, strict=True)),
        dtype=bool,
        count=total,
    )
    lengths = np.fromiter(map(len, flat), dtype=np.int64, count=len(flat))
    n_hits = np.bincount(pair_of[hits], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(k > 0, n_hits / np.maximum(k, 1), np.nan)
    longest = np.zeros(n, dtype=np.int64)
    np.maximum.at(longest, pair_of[hits], lengths[code_at[hits]])
    return share, longest, k


def _log_ratios(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|log(a / b)| (float64, ``math.log`` of each distinct ratio); NaN where one is 0."""
    out = np.full(len(a), np.nan)
    ok = (a > 0) & (b > 0)
    pairs, inverse = np.unique(np.stack([a[ok], b[ok]], axis=1), axis=0, return_inverse=True)
    values = np.array([abs(math.log(int(x) / int(y))) for x, y in pairs], dtype=np.float64)
    out[ok] = values[inverse.ravel()] if len(pairs) else values[:0]
    return out


def text_pair_features(
    query_titles: Sequence[Title], index_titles: Sequence[Title] | Mapping[int, Title], qp, xp
) -> np.ndarray:
    """(n_pairs, len(TEXT_FEATURE_NAMES)) float32 for the pairs (query row, index row); the
    values of the straightforward per-pair loop (tests/matching/ml/discriminator_reference.py),
    computed per distinct offer and then for all pairs at once."""
    qp, xp = np.asarray(qp, dtype=np.int64), np.asarray(xp, dtype=np.int64)
    out = np.full((len(qp), len(TEXT_FEATURE_NAMES)), np.nan, dtype=np.float32)
    if not len(qp):
        return out
    uq, qi = np.unique(qp, return_inverse=True)
    ux, xi = np.unique(xp, return_inverse=True)
    tq = [query_titles[int(i)] for i in uq]
    tx = [index_titles[int(j)] for j in ux]
    compact_q = np.array([t.compact for t in tq], dtype=object)
    compact_x = np.array([t.compact for t in tx], dtype=object)
    in_c, long_q, codes_q = _found([t.codes for t in tq], compact_x, qi, xi)
    in_q, long_c, codes_x = _found([t.codes for t in tx], compact_q, xi, qi)
    out[:, 0], out[:, 1] = in_c, in_q
    out[:, 2] = np.where((codes_q > 0) | (codes_x > 0), np.maximum(long_q, long_c), np.nan)
    inter, n_q, n_x = set_overlaps([t.words for t in tq], [t.words for t in tx], qi, xi)
    both = (n_q > 0) & (n_x > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[:, 3] = np.where(both, inter / np.maximum(n_q, 1), np.nan)
        out[:, 4] = np.where(both, inter / np.maximum(n_x, 1), np.nan)
    words_q = np.array([t.n_words for t in tq], dtype=np.int64)[qi]
    words_x = np.array([t.n_words for t in tx], dtype=np.int64)[xi]
    out[:, 5] = _log_ratios(words_q, words_x)
    return out
