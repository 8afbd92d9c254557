"""Sparse text similarity: TF-IDF cosine of character n-grams and words.

Catches what frozen sentence embeddings blur: model numbers, colour and brand words. The
matching search mixes it into the cosine as ``(1 - text_weight) * cos + text_weight * tfidf``
(see :mod:`matching.ml.retrieval`).
"""

from __future__ import annotations

import functools
import itertools
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


def normalise_all(texts: Sequence[str | None]) -> list[str]:
    """:func:`normalise_for_tfidf` of every text, each distinct text once."""
    cache: dict[str | None, str] = {}
    out = []
    for t in texts:
        n = cache.get(t)
        if n is None:
            n = cache[t] = normalise_for_tfidf(t)
        out.append(n)
    return out


class SparseText:
    """TF-IDF text vectors whose dot product is the mean of two cosines: character 2-5-grams
    inside word boundaries and whole words, on :func:`normalise_for_tfidf` text (sublinear tf,
    smooth idf). Fitted without labels, on the texts that are compared (both shops).

    ``canonical=True``: the texts first go through
    :func:`~matching.ml.text_normalise.canonical_title` (German/French colour, garment, gender
    and fashion words -> English), for shops that title in different languages.

    The values are scikit-learn's ``TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5))``
    and ``TfidfVectorizer(analyzer="word")`` on ``\\w+`` words (float32, sublinear tf), bit
    for bit, built faster: a normalised text is words separated by single spaces, and
    both analyzers see each word on its own (``char_wb`` pads every word with a space), so a
    text's term counts are the sum of its words' term counts. The analyzer runs once per
    distinct word (not once per text and again per transform), and the document-term counts
    are ``(texts x words) @ (words x terms)``, one sparse product; scikit-learn's
    ``TfidfTransformer`` then weighs them exactly as the vectorizer would."""

    def __init__(self, *, canonical: bool = False) -> None:
        self.canonical = canonical
        self._blocks: list[_TermBlock] = []
        self._memo: dict[str | None, str] = {}  # text -> what _normalise made of it
        self._fit_words: _WordCounts | None = None
        self._fit_rows: dict[str, int] = {}  # normalised text -> its row of _fit_words

    def _normalise(self, texts: Sequence[str | None]) -> list[str]:
        memo = self._memo
        new = [t for t in dict.fromkeys(texts) if t not in memo]
        if new:
            if self.canonical:
                from .text_normalise import canonical_title

                memo.update(zip(new, normalise_all([canonical_title(t) for t in new]), strict=True))
            else:
                memo.update(zip(new, normalise_all(new), strict=True))
        return [memo[t] for t in texts]

    def normalised(self, texts: Sequence[str | None]) -> list[str]:
        """:func:`normalise_for_tfidf` of ``texts`` (remembered from the fit when it saw them)."""
        return normalise_all(texts) if self.canonical else self._normalise(texts)

    def fit(self, texts: Sequence[str | None]) -> SparseText:
        return self.fit_normalised(self._normalise(texts))

    def transform(self, texts: Sequence[str | None]) -> sp.csr_matrix:
        return self.transform_normalised(self._normalise(texts))

    def fit_normalised(self, normalised: Sequence[str]) -> SparseText:
        """:meth:`fit` on texts already normalised (:func:`normalise_all`; not canonical)."""
        if not any(normalised):
            normalised = ["_"]
        words = _WordCounts(normalised)
        self._blocks = [
            _TermBlock.fit(words, analyzer=char_wb_terms),
            _TermBlock.fit(words, analyzer=word_terms),
        ]
        self._fit_words = words
        self._fit_rows = {text: i for i, text in enumerate(normalised)}
        return self

    def transform_normalised(self, normalised: Sequence[str]) -> sp.csr_matrix:
        """:meth:`transform` of texts already normalised (:func:`normalise_all`); no texts give
        an empty matrix (scikit-learn refuses zero rows)."""
        if not len(normalised):
            width = sum(len(block.vocabulary) for block in self._blocks)
            return sp.csr_matrix((0, width), dtype=np.float32)
        rows = np.fromiter(
            (self._fit_rows.get(t, -1) for t in normalised), dtype=np.int64, count=len(normalised)
        )
        if self._fit_words is not None and (rows >= 0).all():  # texts the fit has split already
            words = self._fit_words.rows(rows)
        else:
            words = _WordCounts(normalised)
        half = math.sqrt(0.5)
        blocks = [block.transform(words) * half for block in self._blocks]
        return sp.csr_matrix(sp.hstack(blocks, format="csr"), dtype=np.float32)


def char_wb_terms(word: str) -> list[str]:
    """scikit-learn's ``char_wb`` 2-5-grams of one word (no whitespace in it): the word padded
    with a space each side, every window of 2 to 5 characters; a padded word of n <= 5
    characters ends with itself as the last n-gram (``_char_wb_ngrams`` in
    ``sklearn.feature_extraction.text``)."""
    w = f" {word} "
    return list(map(w.__getitem__, _windows(len(w))))


@functools.cache
def _windows(size: int) -> tuple[slice, ...]:
    return tuple(slice(i, i + n) for n in range(2, min(size, 5) + 1) for i in range(size - n + 1))


_WORD_TOKEN = re.compile(r"(?u)\b\w+\b")


def word_terms(word: str) -> list[str]:
    """scikit-learn's word tokens (``token_pattern=r"(?u)\\b\\w+\\b"``) of one word: the word
    itself when all its characters are word characters (``\\w`` is ``str.isalnum`` or ``_``)."""
    if word.isalnum() or word.replace("_", "0").isalnum():
        return [word]
    return _WORD_TOKEN.findall(word)


class _WordCounts:
    """Texts as counts of their distinct words: ``matrix`` (texts x ``words``), int64."""

    def __init__(self, normalised: Sequence[str]) -> None:
        splits = [text.split() for text in normalised]
        ids: dict[str, int] = {}
        indices = [ids.setdefault(word, len(ids)) for words in splits for word in words]
        indptr = np.zeros(len(splits) + 1, dtype=np.int64)
        np.cumsum([len(words) for words in splits], out=indptr[1:])
        self.words = list(ids)
        self.matrix = sp.csr_matrix(
            (np.ones(len(indices), dtype=np.int64), np.asarray(indices, dtype=np.int64), indptr),
            shape=(len(normalised), len(ids)),
        )
        self.matrix.sum_duplicates()

    def rows(self, rows: np.ndarray) -> _WordCounts:
        """These texts only (same words, so the same rows of a block's ``terms``)."""
        out = object.__new__(_WordCounts)
        out.words, out.matrix = self.words, self.matrix[rows]
        return out


def _term_rows(analysed: list[list[str]], vocabulary: dict[str, int]) -> sp.csr_matrix:
    """(words x vocabulary) term counts of analysed words; terms not in ``vocabulary`` are
    dropped."""
    cols, rows = [], []
    for row, terms in enumerate(analysed):
        for term in terms:
            j = vocabulary.get(term)
            if j is not None:
                cols.append(j)
                rows.append(row)
    out = sp.csr_matrix(
        (np.ones(len(cols), dtype=np.int64), (np.asarray(rows, dtype=np.int64), cols)),
        shape=(len(analysed), len(vocabulary)),
    )
    out.sum_duplicates()
    return out


class _TermBlock:
    """One vectorizer's vocabulary (sorted terms, as scikit-learn orders them), its fitted
    ``TfidfTransformer`` and the term counts of the words seen when fitting (``terms``:
    words x vocabulary, row ``word_rows[word]``)."""

    def __init__(self, analyzer, vocabulary: dict[str, int], terms: sp.csr_matrix, words):
        from sklearn.feature_extraction.text import TfidfTransformer

        self.analyzer = analyzer
        self.vocabulary = vocabulary
        self.terms = terms
        self.words = words
        self.word_rows = {word: i for i, word in enumerate(words)}
        self.tfidf = TfidfTransformer(sublinear_tf=True)

    @classmethod
    def fit(cls, words: _WordCounts, *, analyzer) -> _TermBlock:
        analysed = [analyzer(word) for word in words.words]
        flat = list(itertools.chain.from_iterable(analysed))
        order = sorted(dict.fromkeys(flat))  # scikit-learn's column order: the terms sorted
        vocabulary = dict(zip(order, range(len(order)), strict=True))
        cols = np.fromiter(map(vocabulary.__getitem__, flat), dtype=np.int64, count=len(flat))
        lengths = np.fromiter(map(len, analysed), dtype=np.int64, count=len(analysed))
        terms = sp.csr_matrix(
            (
                np.ones(len(flat), dtype=np.int64),
                (np.repeat(np.arange(len(analysed)), lengths), cols),
            ),
            shape=(len(analysed), len(order)),
        )
        terms.sum_duplicates()
        block = cls(analyzer, vocabulary, terms, words.words)
        # the idf reads only which documents hold a term: no need to sort the columns here
        block.tfidf.fit(sp.csr_matrix(words.matrix @ terms, dtype=np.float32))
        return block

    def counts(self, words: _WordCounts) -> sp.csr_matrix:
        """The document-term counts (float32, canonical CSR) of ``CountVectorizer.transform``."""
        if words.words is self.words:  # texts of the fit: its words, in its order
            return _canonical(words.matrix @ self.terms)
        rows = np.fromiter(
            (self.word_rows.get(w, -1) for w in words.words), dtype=np.int64, count=len(words.words)
        )
        terms = self.terms
        new = np.nonzero(rows < 0)[0]
        if len(new):  # words the fit never saw: their known terms only
            extra = _term_rows([self.analyzer(words.words[i]) for i in new], self.vocabulary)
            rows[new] = terms.shape[0] + np.arange(len(new))
            terms = sp.vstack([terms, extra], format="csr")
        return _canonical(words.matrix @ terms[rows])

    def transform(self, words: _WordCounts) -> sp.csr_matrix:
        return self.tfidf.transform(self.counts(words), copy=False)


def _canonical(product) -> sp.csr_matrix:
    """Integer counts as ``CountVectorizer`` gives them: float32, no zeros, sorted columns."""
    counts = sp.csr_matrix(product)
    counts.eliminate_zeros()
    counts.sort_indices()
    out = sp.csr_matrix(counts, dtype=np.float32)
    out.indices = out.indices.astype(np.int32, copy=False)
    out.indptr = out.indptr.astype(np.int32, copy=False)
    return out


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
