import numpy as np
import pytest

from matching.ml import retrieval
from matching.ml.retrieval import block_pairs, blocking_recall, brand_key, search


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_brand_key_sub_brands_case_punctuation_accents() -> None:
    for brand in ["adidas Originals", "ADIDAS", "Adidas-Performance", "ADIDAS TERREX", "adidas"]:
        assert brand_key(brand) == "adidas"
    assert brand_key("Tommy Hilfiger Inc.") == "tommy hilfiger"
    assert brand_key("Levi's® Jeans") == "levis"
    assert brand_key("Desigual Étoile") == "desigual etoile"
    assert brand_key("Jeans") == "jeans"  # nothing else left: keep it
    assert brand_key("") == ""
    assert brand_key("JORDAN", aliases={"Jordan": "Nike"}) == "nike"


def test_block_pairs_fuzzy_and_empty_brands() -> None:
    blocks = block_pairs(
        query_brands=["adidas Originals", "Puma", "", "Addidas"],
        index_brands=["ADIDAS TERREX", "PUMA", "Nike", ""],
    )
    assert blocks["adidas"] == ["", "adidas"]
    assert blocks["puma"] == ["", "puma"]
    assert blocks[""] == ["", "adidas", "nike", "puma"]
    assert "adidas" in blocks["addidas"]  # typo within the threshold
    strict = block_pairs(query_brands=["Addidas"], index_brands=["adidas"], threshold=95)
    assert strict["addidas"] == []


def test_blocking_recall() -> None:
    query = ["adidas Originals", "Jordan", "Puma", ""]
    index = ["ADIDAS", "Nike", "Reebok", "Puma"]
    pairs = [(0, 0), (1, 1), (2, 2), (3, 3)]
    assert blocking_recall(query_brands=query, index_brands=index, true_pairs=pairs) == 0.5
    with_alias = blocking_recall(
        query_brands=query, index_brands=index, true_pairs=pairs, aliases={"jordan": "nike"}
    )
    assert with_alias == 0.75
    assert np.isnan(blocking_recall(query_brands=query, index_brands=index, true_pairs=[]))


def _brute_force(q: np.ndarray, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    sims = q @ x.T
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(sims, order, axis=1)


def test_blocked_search_equals_brute_force_when_all_brands_equal() -> None:
    rng = np.random.default_rng(0)
    q, x = _unit(rng.normal(size=(20, 8))), _unit(rng.normal(size=(50, 8)))
    result = search(
        query_vecs=q, index_vecs=x, k=3, query_brands=["Nike"] * 20, index_brands=["NIKE"] * 50
    )
    idx, sims = _brute_force(q, x, 3)
    np.testing.assert_array_equal(result.indices, idx)
    np.testing.assert_allclose(result.similarities, sims, rtol=1e-5)
    assert result.comparisons == result.comparisons_unblocked == 20 * 50
    unblocked = search(query_vecs=q, index_vecs=x, k=3)
    np.testing.assert_array_equal(unblocked.indices, idx)


def test_blocking_restricts_candidates_and_empty_brands_are_not_blocked() -> None:
    rng = np.random.default_rng(1)
    x = _unit(rng.normal(size=(6, 4)))
    index_brands = ["adidas", "adidas", "puma", "puma", "", "nike"]
    q = x[[2, 0, 5]] + 0.01  # near index 2 (puma), 0 (adidas), 5 (nike)
    result = search(
        query_vecs=_unit(q),
        index_vecs=x,
        k=6,
        query_brands=["adidas Originals", "", "Puma"],
        index_brands=index_brands,
    )
    allowed = [{0, 1, 4}, {0, 1, 2, 3, 4, 5}, {2, 3, 4}]
    for row, ok in zip(result.indices, allowed, strict=True):
        found = {int(i) for i in row if i >= 0}
        assert found == ok
    assert result.indices[1, 0] == 0  # unbranded query searched the whole index
    assert (result.indices[0, 3:] == -1).all()
    assert np.isneginf(result.similarities[0, 3:]).all()
    assert result.comparisons == 3 + 6 + 3
    assert result.comparisons_unblocked == 18


def test_query_brand_without_block_gets_nothing() -> None:
    x = _unit(np.eye(3))
    result = search(
        query_vecs=x[:1], index_vecs=x, k=2, query_brands=["gucci"], index_brands=["a", "b", "c"]
    )
    assert (result.indices == -1).all() and result.comparisons == 0


@pytest.mark.parametrize("index_type", ["ivf", "hnsw"])
def test_approximate_indexes_find_near_duplicates(monkeypatch, index_type: str) -> None:
    monkeypatch.setattr(retrieval, "ANN_MIN_SIZE", 100)
    rng = np.random.default_rng(2)
    x = _unit(rng.normal(size=(2000, 16)))
    q = _unit(x[:100] + 0.05 * rng.normal(size=(100, 16)))
    result = search(query_vecs=q, index_vecs=x, k=3, index_type=index_type)
    assert (result.indices[:, 0] == np.arange(100)).mean() > 0.9
    assert result.indices.dtype == np.int64 and result.similarities.dtype == np.float32


def test_unknown_index_type() -> None:
    x = _unit(np.eye(3))
    with pytest.raises(ValueError):
        search(query_vecs=x, index_vecs=x, index_type="lsh")
