"""The vectorised TF-IDF and pair features give the values of the straightforward code they
replaced (tests/matching/ml/discriminator_reference.py), bit for bit, and so the same
discriminator probabilities."""

import importlib.util
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from matching.ml import discriminator as ml_disc
from matching.ml import pair_features as pf
from matching.ml.pair_features import Side, pair_features
from matching.ml.text_pair_features import Title, text_pair_features
from matching.ml.text_similarity import SparseText, char_wb_terms, word_terms


def _reference():
    name = "discriminator_reference"
    if name not in sys.modules:
        path = Path(__file__).with_name(f"{name}.py")
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the class is made
        spec.loader.exec_module(module)
    return sys.modules[name]


WORDS = (
    "acme", "phone", "Black", "black", "kx-tg1033s", "KX TG1033S", "ELP-LP12", "elp", "lp12",
    "200W", "v13h010l12", "12/34", "a/b-c", "Café", "crème", "Übergröße", "straße", "ΑΒΓ",
    "x", "ab", "abc", "abcd", "1", "12345", "123456", "don't", "—", "ﬁne", "Levi's®", "t-shirt",
    "T Shirt", "a_b", "ä", "9", "10.5", "3.5mm", "USB-C", "usb c", "42|43",
)  # fmt: skip
SPACES = (" ", "  ", " - ", "\u00a0", "\u3000", "\t", " / ")


def _titles(n: int, seed: int) -> list[str | None]:
    rng = np.random.default_rng(seed)
    out: list[str | None] = ["", None, "   ", "acme acme acme", "Café  crème", "ELP-LP12 elp lp12"]
    while len(out) < n:
        k = int(rng.integers(1, 9))
        words = [WORDS[i] for i in rng.integers(0, len(WORDS), k)]
        gaps = [SPACES[i] for i in rng.integers(0, len(SPACES), k)]
        out.append("".join(w + g for w, g in zip(words, gaps, strict=True)).strip())
    return out


def _same_csr(a, b) -> None:
    a.sort_indices()
    b.sort_indices()
    assert a.shape == b.shape and a.dtype == b.dtype
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.data, b.data)  # exact, not close


def test_word_analyzers_are_sklearns() -> None:
    from sklearn.feature_extraction.text import CountVectorizer

    char = CountVectorizer(analyzer="char_wb", ngram_range=(2, 5), lowercase=False)
    word = CountVectorizer(token_pattern=r"(?u)\b\w+\b", lowercase=False)
    words = ["a", "ab", "abc", "abcd", "abcde", "abcdefgh", "ü", "straße", "a_b", "12345", "_"]
    words += ["x²", "½", "٣٤", "a-b", "a.b", "e\u0301", "ǅ", "ⅷ", "__init__", "a'b", "€5"]
    for w in words:
        assert char_wb_terms(w) == char.build_analyzer()(w), w
        assert Counter(word_terms(w)) == Counter(word.build_analyzer()(w)), w


@pytest.mark.parametrize("canonical", [False, True])
def test_sparse_text_is_bit_identical_to_the_vectorizers(canonical) -> None:
    ref = _reference()
    texts = _titles(300, seed=1)
    unseen = ["brand new words zzz", "acme kx-tg1033s unseenword", "", None, "ΑΒΓ x"]
    old = ref.SparseText(canonical=canonical).fit(texts)
    new = SparseText(canonical=canonical).fit(texts)
    for batch in (texts, texts[5:40], unseen):
        _same_csr(old.transform(batch), new.transform(batch))
    assert new.transform([]).shape == (0, old.transform(texts).shape[1])


def test_sparse_text_on_empty_texts_only() -> None:
    ref = _reference()
    texts = ["", None, "  "]
    _same_csr(
        ref.SparseText().fit(texts).transform(texts), SparseText().fit(texts).transform(texts)
    )


def _side(texts, rng, *, dim=8, raw=True, prices=None) -> Side:
    n = len(texts)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)

    def raw_block(d):
        x = rng.normal(size=(n, d)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        x[rng.random(n) < 0.2] = 0  # offers without the embedding
        return x

    brands = ["acme", "Acme Corp", "", None, "zebra", "acme"]
    sizes = [("S", "M"), ("M", "M", "L"), (), None, ("42",), ("S",)]
    categories = ["Phones", "phones", "", None, "Shirts"]
    price_choices = [10.0, 20.0, None, 0.0, -5.0, float("nan"), "12.5", "n/a", 1e-3]
    return Side(
        vectors=vectors,
        texts=list(texts),
        brand_keys=[brands[i] for i in rng.integers(0, len(brands), n)],
        prices=prices or [price_choices[i] for i in rng.integers(0, len(price_choices), n)],
        sizes=[sizes[i] for i in rng.integers(0, len(sizes), n)],
        categories=[categories[i] for i in rng.integers(0, len(categories), n)],
        image=raw_block(16) if raw else None,
        text=raw_block(12) if raw else None,
        n_images=rng.integers(0, 4, n).astype(float) if raw else None,
    )


def _shortlists(nq, ni, width, rng):
    idx = np.stack([rng.permutation(ni)[:width] for _ in range(nq)]).astype(np.int64)
    score = -np.sort(-rng.random((nq, width)).astype(np.float32), axis=1)
    short = rng.random(nq) < 0.2  # shorter lists (a blocked search)
    idx[short, width // 2 :] = -1
    idx[0] = -1  # a query without any candidate
    score[idx < 0] = -np.inf
    return idx, score


def _same_features(a, b) -> None:
    assert a[0].dtype == b[0].dtype == np.float32 and a[0].shape == b[0].shape
    np.testing.assert_array_equal(a[0], b[0])  # NaN where NaN, every other value exact
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[2], b[2])


@pytest.mark.parametrize(("seed", "chunk"), [(0, 7), (1, 1), (2, 100_000)])
@pytest.mark.parametrize("raw", [True, False])
def test_pair_features_are_identical_to_the_reference(seed, chunk, raw, monkeypatch) -> None:
    monkeypatch.setattr(pf, "DOT_CHUNK", chunk)  # blocks of row-wise dots of any size
    ref = _reference()
    rng = np.random.default_rng(seed)
    query = _side(_titles(60, seed=10 + seed), rng, raw=raw)
    index = _side(_titles(90, seed=20 + seed), rng, raw=raw)
    idx, score = _shortlists(60, 90, 10, rng)
    kwargs = {"query": query, "index": index, "cand_idx": idx, "cand_score": score}
    _same_features(ref.pair_features(**kwargs), pair_features(**kwargs))
    # with a TF-IDF fitted by the caller (training, the match search's own)
    texts = [*query.texts, *index.texts]
    _same_features(
        ref.pair_features(**kwargs, sparse=ref.SparseText().fit(texts)),
        pair_features(**kwargs, sparse=SparseText().fit(texts)),
    )


def test_pair_features_of_empty_shortlists() -> None:
    ref = _reference()
    rng = np.random.default_rng(3)
    query, index = _side(["a", "b"], rng), _side(["a", "c", "d"], rng)
    idx = np.full((2, 4), -1, dtype=np.int64)
    score = np.full((2, 4), -np.inf, dtype=np.float32)
    kwargs = {"query": query, "index": index, "cand_idx": idx, "cand_score": score}
    x, q_pos, k_pos = pair_features(**kwargs)
    assert x.shape == (0, len(pf.FEATURE_NAMES)) and len(q_pos) == len(k_pos) == 0
    _same_features(ref.pair_features(**kwargs), (x, q_pos, k_pos))


def test_text_pair_features_are_identical_to_the_reference() -> None:
    ref = _reference()
    texts = _titles(80, seed=5)
    rng = np.random.default_rng(5)
    qp, xp = rng.integers(0, 80, 500), rng.integers(0, 80, 500)
    old = ref.text_pair_features(
        [ref.Title.of(t) for t in texts], {i: ref.Title.of(t) for i, t in enumerate(texts)}, qp, xp
    )
    titles = [Title.of(t) for t in texts]
    new = text_pair_features(titles, dict(enumerate(titles)), qp, xp)
    np.testing.assert_array_equal(old, new)
    assert text_pair_features(titles, titles, qp[:0], xp[:0]).shape == (0, old.shape[1])


def test_stacked_discriminator_probabilities_unchanged() -> None:
    """A stacked discriminator fitted on the reference's features scores the fast path's
    features of new shortlists exactly as it scores the reference's, and fitting on the fast
    path's features gives the same model."""
    ref = _reference()
    rng = np.random.default_rng(7)
    n_products = 120
    base = _titles(n_products, seed=7)
    base = [f"{t} item{i}" for i, t in enumerate(base)]  # every product its own code-ish word
    prices = [float(p) for p in rng.uniform(5, 50, n_products)]
    query = _side(base, rng, prices=prices)
    index = _side([f"{t} new" if i % 3 else t for i, t in enumerate(base)], rng, prices=prices)
    index.vectors = query.vectors + 0.4 * rng.normal(size=query.vectors.shape).astype(np.float32)
    sims = query.vectors @ index.vectors.T
    idx = np.argsort(-sims, axis=1)[:, :10]
    score = np.take_along_axis(sims, idx, axis=1).astype(np.float32)
    kwargs = {"query": query, "index": index, "cand_idx": idx, "cand_score": score}
    x_old, q_pos, k_pos = ref.pair_features(**kwargs)
    x_new, _, _ = pair_features(**kwargs)
    y = idx[q_pos, k_pos] == q_pos  # product i of the query shop is offer i of the index
    groups = q_pos
    fitted = {}
    for name, x in (("old", x_old), ("new", x_new)):
        disc, _note, oof = ml_disc.fit_stacked(x, y, groups=groups, list_ids=q_pos, seed=0)
        assert disc is not None
        fitted[name] = (disc, oof)
    np.testing.assert_array_equal(fitted["old"][1], fitted["new"][1])
    disc = fitted["old"][0]
    p_old = disc.predict(x_old, list_ids=q_pos)
    np.testing.assert_array_equal(p_old, disc.predict(x_new, list_ids=q_pos))
    np.testing.assert_array_equal(p_old, fitted["new"][0].predict(x_new, list_ids=q_pos))
    assert 0.0 < p_old.mean() < 1.0
