import numpy as np
import scipy.sparse as sp

from matching.ml import text_similarity
from matching.ml.text_similarity import SparseText, normalise_for_tfidf, pair_dot


def test_normalise_for_tfidf_joins_model_numbers() -> None:
    assert normalise_for_tfidf("Panasonic KX-TG1033S  Phone") == "panasonic kxtg1033s phone"
    assert normalise_for_tfidf("Levi's® Jeans") == "levis jeans"
    assert normalise_for_tfidf(None) == ""


def test_sparse_text_prefers_the_same_model_number() -> None:
    index = ["Sony PS-LX300USB Stereo Turntable", "Sony Stereo Turntable PS-LX350H", "Bose Speaker"]
    query = ["Sony Turntable - PSLX350H"]
    model = SparseText().fit(index + query)
    sims = (model.transform(query) @ model.transform(index).T).toarray()[0]
    assert sims[1] > sims[0] > sims[2]
    self_sim = (model.transform(index) @ model.transform(index).T).toarray()
    np.testing.assert_allclose(np.diag(self_sim), 1.0, rtol=1e-5)


def test_sparse_text_fits_on_empty_texts() -> None:
    model = SparseText().fit(["", None])
    assert model.transform(["", "abc"]).shape[0] == 2


def test_pair_dot_equals_dense_products_across_chunks(monkeypatch) -> None:
    monkeypatch.setattr(text_similarity, "PAIR_DOT_CHUNK", 3)
    rng = np.random.default_rng(0)
    a = sp.random(6, 20, density=0.3, format="csr", random_state=1, dtype=np.float32)
    b = sp.random(9, 20, density=0.3, format="csr", random_state=2, dtype=np.float32)
    ra, rb = rng.integers(0, 6, 10), rng.integers(0, 9, 10)
    expected = (a.toarray() @ b.toarray().T)[ra, rb]
    np.testing.assert_allclose(pair_dot(a, b, ra, rb), expected, rtol=1e-5)


def test_canonical_tfidf_matches_german_titles_to_english_ones() -> None:
    index = ["Nike Men Black Sports Shoes", "Nike Women Red Dress", "Puma Men White Tshirt"]
    query = [
        "Nike Herren Sportschuhe Schwarz",
        "Nike Damen Kleid Rot",
        "Puma Herren Weißes T-Shirt",
    ]
    plain = SparseText().fit(index + query)
    canonical = SparseText(canonical=True).fit(index + query)
    p = (plain.transform(query) @ plain.transform(index).T).toarray()
    c = (canonical.transform(query) @ canonical.transform(index).T).toarray()
    np.testing.assert_allclose(np.diag(c), 1.0, atol=1e-5)  # same words once canonical
    assert (np.diag(p) < 0.5).all()
    assert (c.argmax(axis=1) == [0, 1, 2]).all()
