import numpy as np
import pytest

from matching.ml import retrieval
from matching.ml.retrieval import (
    SparseText,
    block_pairs,
    blocking_recall,
    brand_key,
    csls_rescore,
    greedy_one_to_one,
    normalise_for_tfidf,
    search,
    text_weight_for,
)


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
        query_vecs=q,
        index_vecs=x,
        k=3,
        query_brands=["Nike"] * 20,
        index_brands=["NIKE"] * 50,
        one_to_one=False,
    )
    idx, sims = _brute_force(q, x, 3)
    np.testing.assert_array_equal(result.indices, idx)
    np.testing.assert_allclose(result.similarities, sims, rtol=1e-5)
    assert result.comparisons == result.comparisons_unblocked == 20 * 50
    unblocked = search(query_vecs=q, index_vecs=x, k=3, one_to_one=False)
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
        one_to_one=False,
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


def test_csls_rescore_hand_computed() -> None:
    scores = np.array([[0.9, 0.5], [0.8, 0.2]], dtype=np.float32)
    # r_I: query 0 -> mean(0.9, 0.5) = 0.7; query 1 -> mean(0.8, 0.2) = 0.5
    # r_Q: index 0 -> mean(0.9, 0.8) = 0.85; index 1 -> mean(0.5, 0.2) = 0.35
    out = csls_rescore(scores, scores, scores.T)
    expected = np.array(
        [[0.9 - (0.7 + 0.85) / 2, 0.5 - (0.7 + 0.35) / 2], [0.8 - (0.5 + 0.85) / 2, 0.2 - 0.425]]
    )
    np.testing.assert_allclose(out, expected, atol=1e-6)
    # non-finite neighbours are left out of the means
    fwd = np.array([[0.9, -np.inf], [0.8, 0.2]], dtype=np.float32)
    out = csls_rescore(scores, fwd, scores.T)
    np.testing.assert_allclose(out[0, 0], 0.9 - (0.9 + 0.85) / 2, atol=1e-6)


def test_greedy_one_to_one_hand_example() -> None:
    # query 0 and 1 both prefer item 7; query 1 is closer, so query 0 falls back to item 8;
    # query 2's only candidate (7) is taken: unassigned.
    candidates = np.array([[7, 8], [7, 9], [7, -1]])
    scores = np.array([[0.9, 0.6], [0.95, 0.1], [0.5, -np.inf]])
    np.testing.assert_array_equal(greedy_one_to_one(scores, candidates), [1, 0, -1])
    # a chain: greedy order, not "first proposer wins"
    candidates = np.array([[1, 2], [2, 3], [3, 1]])
    scores = np.array([[0.9, 0.8], [0.85, 0.1], [0.7, 0.2]])
    np.testing.assert_array_equal(greedy_one_to_one(scores, candidates), [0, 0, 0])
    assert (greedy_one_to_one(np.full((2, 2), -np.inf), np.full((2, 2), -1)) == -1).all()


def test_search_one_to_one_resolves_a_hub() -> None:
    x = _unit(np.array([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.0, 0.0, 1.0]]))
    q = _unit(np.array([[1.0, 0.05, 0.0], [1.0, 0.3, 0.0]]))  # both nearest to index 0
    plain = search(query_vecs=q, index_vecs=x, k=2, one_to_one=False)
    assert plain.indices[:, 0].tolist() == [0, 0]
    result = search(query_vecs=q, index_vecs=x, k=2, unassigned_penalty=0.5)
    assert result.indices[:, 0].tolist() == [0, 1]  # query 1 takes its second-best
    assert result.indices[1].tolist() == [1, 0]
    assert result.similarities[1, 1] <= result.similarities[1, 0]  # capped at rank 1
    np.testing.assert_allclose(result.similarities[1, 0], q[1] @ x[1], rtol=1e-5)
    np.testing.assert_allclose(result.cosines[1], [q[1] @ x[1], q[1] @ x[0]], rtol=1e-5)
    # a third query with no free candidate keeps its best one, penalised
    q3 = np.vstack([q, _unit(np.array([[1.0, 0.0, 0.01]]))])
    r3 = search(query_vecs=q3, index_vecs=x[:1], k=1, unassigned_penalty=0.5)
    assert r3.indices[:, 0].tolist() == [0, 0, 0]
    assert (r3.similarities[:, 0] >= -1).all()
    assert int(np.sum(r3.similarities[:, 0] > 0.9)) == 1


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


def test_search_with_texts_mixes_tfidf_into_the_score() -> None:
    x = _unit(np.array([[1.0, 0.0], [0.99, 0.14]]))
    q = _unit(np.array([[1.0, 0.01]]))  # by vectors nearest to index 0
    texts_x = ["acme widget WX-100 black", "acme widget WX-200 black"]
    texts_q = ["ACME Widget - WX200"]
    vec_only = search(query_vecs=q, index_vecs=x, k=2)
    assert vec_only.indices[0, 0] == 0
    both = search(
        query_vecs=q, index_vecs=x, k=2, query_texts=texts_q, index_texts=texts_x, text_weight=0.5
    )
    assert both.indices[0, 0] == 1
    assert -1 <= both.similarities[0, 0] <= 1
    with pytest.raises(ValueError):
        search(query_vecs=q, index_vecs=x, query_texts=texts_q)


def test_search_csls_option_runs_and_stays_in_range() -> None:
    rng = np.random.default_rng(3)
    x = _unit(rng.normal(size=(30, 8)))
    q = _unit(x[:10] + 0.1 * rng.normal(size=(10, 8)))
    result = search(query_vecs=q, index_vecs=x, k=3, rescore="csls", csls_k=5)
    assert (result.indices[:, 0] == np.arange(10)).mean() >= 0.9
    assert (np.abs(result.similarities) <= 1).all()
    with pytest.raises(ValueError):
        search(query_vecs=q, index_vecs=x, rescore="bogus")


def test_text_weight_for_features() -> None:
    assert text_weight_for(("text", "numeric")) == 0.5
    assert text_weight_for(("image", "text", "numeric")) == 0.0


def test_greedy_one_to_one_rounds_and_sequential_agree(monkeypatch) -> None:
    rng = np.random.default_rng(5)
    scores = rng.random((300, 8))
    candidates = np.stack([rng.choice(60, size=8, replace=False) for _ in range(300)])
    fast = greedy_one_to_one(scores, candidates)
    monkeypatch.setattr(retrieval, "MAX_MUTUAL_ROUNDS", 0)
    slow = greedy_one_to_one(scores, candidates)
    np.testing.assert_array_equal(fast, slow)
    items = candidates[np.arange(300), np.maximum(fast, 0)][fast >= 0]
    assert len(items) == len(set(items.tolist())) == 60


def test_blocked_search_with_unbranded_index_offers_equals_masked_brute_force() -> None:
    """Unbranded index offers are searched once for all branded queries, then merged: the
    result must equal exact search over each query's allowed candidates."""
    from matching.ml.retrieval import _keys, block_pairs

    rng = np.random.default_rng(4)
    names = ["Acme", "ACME Originals", "Zebra", "Nordwind", "", "Hugo", "Hugo Boss"]
    qb = [names[i] for i in rng.integers(0, len(names), 60)]
    xb = [names[i] for i in rng.integers(0, len(names), 300)]
    q = rng.normal(size=(60, 16)).astype(np.float32)
    x = rng.normal(size=(300, 16)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    got = search(
        query_vecs=q, index_vecs=x, k=3, query_brands=qb, index_brands=xb, one_to_one=False
    )
    blocks = block_pairs(query_brands=qb, index_brands=xb)
    qk, xk = _keys(qb, None), _keys(xb, None)
    allowed = np.array([[xk[j] in blocks[qk[i]] for j in range(300)] for i in range(60)])
    sims = np.where(allowed, q @ x.T, -np.inf)
    expected = np.argsort(-sims, axis=1, kind="stable")[:, :3]
    np.testing.assert_allclose(
        got.similarities, np.take_along_axis(sims, expected, axis=1), rtol=1e-5, atol=1e-6
    )
    assert got.comparisons == int(allowed.sum())
