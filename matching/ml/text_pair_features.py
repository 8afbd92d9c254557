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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

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
