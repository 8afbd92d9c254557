"""Sparse text similarity: TF-IDF cosine of character n-grams and words.

Catches what frozen sentence embeddings blur: model numbers, colour and brand words. The
matching search mixes it into the cosine as ``(1 - text_weight) * cos + text_weight * tfidf``
(see :mod:`matching.ml.retrieval`).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

_NON_WORD = re.compile(r"[^\w\s]+")
PAIR_DOT_CHUNK = 200_000


def normalise_for_tfidf(text: str | None) -> str:
    """NFKC, case-folded, punctuation removed without a gap (``"KX-TG1033S"`` ->
    ``"kxtg1033s"``, ``"Levi's"`` -> ``"levis"``), whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text or "").casefold()
    return " ".join(_NON_WORD.sub("", text).split())


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
            from .text_normalise import canonical_title

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


def pair_dot(
    a: sp.csr_matrix, b: sp.csr_matrix, rows_a: np.ndarray, rows_b: np.ndarray
) -> np.ndarray:
    """Row-wise dot products ``a[rows_a[i]] . b[rows_b[i]]`` (float32), in chunks."""
    rows_a, rows_b = np.asarray(rows_a).ravel(), np.asarray(rows_b).ravel()
    out = np.zeros(len(rows_a), dtype=np.float32)
    step = PAIR_DOT_CHUNK
    for s in range(0, len(rows_a), step):
        prod = a[rows_a[s : s + step]].multiply(b[rows_b[s : s + step]])
        out[s : s + step] = np.asarray(prod.sum(axis=1)).ravel()
    return out
