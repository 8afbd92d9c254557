import numpy as np
import pytest

from matching.ml import exact_search, retrieval
from matching.ml.blocking_plan import plan_blocked_searches
from matching.ml.brands import block_pairs, brand_keys
from matching.ml.match_config import MatchConfig
from matching.ml.retrieval import search


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _config(**kw) -> MatchConfig:
    """Defaults of these tests: no blocking (unless a threshold is given), text weight 0.5."""
    kw.setdefault("brand_threshold", None)
    kw.setdefault("text_weight", 0.5)
    return MatchConfig(**kw)


def _search(q, x, *, query_brands=None, index_brands=None, texts=None, **kw):
    """search() with brands turned into keys; blocking on when brands are given."""
    if query_brands is not None:
        kw.setdefault("brand_threshold", 80.0)
    keys = {}
    if query_brands is not None:
        keys = {"query_keys": brand_keys(query_brands), "index_keys": brand_keys(index_brands)}
    text_kw = {}
    if texts is not None:
        text_kw = {"query_texts": texts[0], "index_texts": texts[1]}
    return search(query_vecs=q, index_vecs=x, config=_config(**kw), **keys, **text_kw)


def _brute_force(q: np.ndarray, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    sims = q @ x.T
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(sims, order, axis=1)


def test_blocked_search_equals_brute_force_when_all_brands_equal() -> None:
    rng = np.random.default_rng(0)
    q, x = _unit(rng.normal(size=(20, 8))), _unit(rng.normal(size=(50, 8)))
    result = _search(
        q, x, k=3, query_brands=["Nike"] * 20, index_brands=["NIKE"] * 50, one_to_one=False
    )
    idx, sims = _brute_force(q, x, 3)
    np.testing.assert_array_equal(result.indices, idx)
    np.testing.assert_allclose(result.similarities, sims, rtol=1e-5)
    assert result.comparisons == result.comparisons_unblocked == 20 * 50
    unblocked = _search(q, x, k=3, one_to_one=False)
    np.testing.assert_array_equal(unblocked.indices, idx)


def test_blocking_restricts_candidates_and_empty_brands_are_not_blocked() -> None:
    rng = np.random.default_rng(1)
    x = _unit(rng.normal(size=(6, 4)))
    index_brands = ["adidas", "adidas", "puma", "puma", "", "nike"]
    q = x[[2, 0, 5]] + 0.01  # near index 2 (puma), 0 (adidas), 5 (nike)
    result = _search(
        _unit(q),
        x,
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
    result = _search(x[:1], x, k=2, query_brands=["gucci"], index_brands=["a", "b", "c"])
    assert (result.indices == -1).all() and result.comparisons == 0


@pytest.mark.parametrize("index_type", ["ivf", "hnsw"])
def test_approximate_indexes_find_near_duplicates(monkeypatch, index_type: str) -> None:
    monkeypatch.setattr(retrieval, "ANN_MIN_SIZE", 100)
    rng = np.random.default_rng(2)
    x = _unit(rng.normal(size=(2000, 16)))
    q = _unit(x[:100] + 0.05 * rng.normal(size=(100, 16)))
    result = _search(q, x, k=3, index_type=index_type)
    assert (result.indices[:, 0] == np.arange(100)).mean() > 0.9
    assert result.indices.dtype == np.int64 and result.similarities.dtype == np.float32


def test_config_errors_are_clear() -> None:
    x = _unit(np.eye(3))
    with pytest.raises(ValueError, match="index_type"):
        _search(x, x, index_type="lsh")
    with pytest.raises(ValueError, match="resolve"):
        search(query_vecs=x, index_vecs=x, config=MatchConfig(brand_threshold=None))
    with pytest.raises(ValueError, match="query_keys and index_keys"):
        search(query_vecs=x, index_vecs=x, config=_config(brand_threshold=80.0))
    with pytest.raises(ValueError, match="one brand key per vector"):
        search(
            query_vecs=x,
            index_vecs=x,
            config=_config(brand_threshold=80.0),
            query_keys=["a"],
            index_keys=["a", "b", "c"],
        )


def test_no_threshold_ignores_keys() -> None:
    x = _unit(np.eye(3))
    result = search(
        query_vecs=x, index_vecs=x, config=_config(k=3), query_keys=["a"] * 3, index_keys="bcd"
    )
    assert result.comparisons == 9


def test_search_one_to_one_resolves_a_hub() -> None:
    x = _unit(np.array([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.0, 0.0, 1.0]]))
    q = _unit(np.array([[1.0, 0.05, 0.0], [1.0, 0.3, 0.0]]))  # both nearest to index 0
    plain = _search(q, x, k=2, one_to_one=False)
    assert plain.indices[:, 0].tolist() == [0, 0]
    result = _search(q, x, k=2, unassigned_penalty=0.5)
    assert result.indices[:, 0].tolist() == [0, 1]  # query 1 takes its second-best
    assert result.indices[1].tolist() == [1, 0]
    assert result.similarities[1, 1] <= result.similarities[1, 0]  # capped at rank 1
    np.testing.assert_allclose(result.similarities[1, 0], q[1] @ x[1], rtol=1e-5)
    np.testing.assert_allclose(result.cosines[1], [q[1] @ x[1], q[1] @ x[0]], rtol=1e-5)
    # a third query with no free candidate keeps its best one, penalised
    q3 = np.vstack([q, _unit(np.array([[1.0, 0.0, 0.01]]))])
    r3 = _search(q3, x[:1], k=1, unassigned_penalty=0.5)
    assert r3.indices[:, 0].tolist() == [0, 0, 0]
    assert (r3.similarities[:, 0] >= -1).all()
    assert int(np.sum(r3.similarities[:, 0] > 0.9)) == 1


def test_search_with_texts_mixes_tfidf_into_the_score() -> None:
    x = _unit(np.array([[1.0, 0.0], [0.99, 0.14]]))
    q = _unit(np.array([[1.0, 0.01]]))  # by vectors nearest to index 0
    texts = (["ACME Widget - WX200"], ["acme widget WX-100 black", "acme widget WX-200 black"])
    vec_only = _search(q, x, k=2)
    assert vec_only.indices[0, 0] == 0
    both = _search(q, x, k=2, texts=texts, text_weight=0.5)
    assert both.indices[0, 0] == 1
    assert -1 <= both.similarities[0, 0] <= 1
    ignored = _search(q, x, k=2, texts=texts, text_weight=0.0)
    np.testing.assert_array_equal(ignored.indices, vec_only.indices)
    with pytest.raises(ValueError):
        search(query_vecs=q, index_vecs=x, config=_config(), query_texts=texts[0])


def test_search_csls_option_runs_and_stays_in_range() -> None:
    rng = np.random.default_rng(3)
    x = _unit(rng.normal(size=(30, 8)))
    q = _unit(x[:10] + 0.1 * rng.normal(size=(10, 8)))
    result = _search(q, x, k=3, rescore="csls", csls_k=5)
    assert (result.indices[:, 0] == np.arange(10)).mean() >= 0.9
    assert (np.abs(result.similarities) <= 1).all()


def test_search_csls_scores_equal_the_dense_csls_formula() -> None:
    """search() rescoring = csls_rescore on the full score matrix (one block, no texts)."""
    from matching.ml.rescoring import csls_rescore, top_k_rows

    rng = np.random.default_rng(6)
    x = _unit(rng.normal(size=(40, 8)))
    q = _unit(rng.normal(size=(15, 8)))
    got = _search(q, x, k=4, rescore="csls", csls_k=5, one_to_one=False, shortlist=40)
    sims = q @ x.T
    dense = csls_rescore(sims, top_k_rows(sims, 5), top_k_rows(sims.T, 5))
    expected = np.take_along_axis(np.clip(dense, -1, 1), got.indices, axis=1)
    np.testing.assert_allclose(got.similarities, expected, atol=1e-5)
    assert (got.similarities[:, :-1] >= got.similarities[:, 1:] - 1e-6).all()
    np.testing.assert_array_equal(got.indices[:, 0], np.argmax(dense, axis=1))


def test_blocked_search_with_unbranded_index_offers_equals_masked_brute_force() -> None:
    """Unbranded index offers are searched once for all branded queries, then merged: the
    result must equal exact search over each query's allowed candidates."""
    rng = np.random.default_rng(4)
    names = ["Acme", "ACME Originals", "Zebra", "Nordwind", "", "Hugo", "Hugo Boss"]
    qb = [names[i] for i in rng.integers(0, len(names), 60)]
    xb = [names[i] for i in rng.integers(0, len(names), 300)]
    q = _unit(rng.normal(size=(60, 16)))
    x = _unit(rng.normal(size=(300, 16)))
    got = _search(q, x, k=3, query_brands=qb, index_brands=xb, one_to_one=False)
    blocks = block_pairs(query_brands=qb, index_brands=xb)
    qk, xk = brand_keys(qb), brand_keys(xb)
    allowed = np.array([[xk[j] in blocks[qk[i]] for j in range(300)] for i in range(60)])
    sims = np.where(allowed, q @ x.T, -np.inf)
    expected = np.argsort(-sims, axis=1, kind="stable")[:, :3]
    np.testing.assert_allclose(
        got.similarities, np.take_along_axis(sims, expected, axis=1), rtol=1e-5, atol=1e-6
    )
    assert got.comparisons == int(allowed.sum())


def _masked_brute_force(q, x, allowed, k):
    """Exact top-k over the allowed pairs; ties: the lower index row first."""
    sims = np.where(allowed, q @ x.T, -np.inf)
    order = np.lexsort((np.broadcast_to(np.arange(x.shape[0]), sims.shape), -sims), axis=1)[:, :k]
    top = np.take_along_axis(sims, order, axis=1)
    return np.where(np.isfinite(top), order, -1), top


def _allowed(qb, xb, threshold=80.0):
    blocks = block_pairs(query_brands=qb, index_brands=xb, threshold=threshold)
    qk, xk = brand_keys(qb), brand_keys(xb)
    return np.array([[xk[j] in blocks[qk[i]] for j in range(len(xb))] for i in range(len(qb))])


def test_plan_covers_every_block_pair_exactly_once() -> None:
    rng = np.random.default_rng(7)
    names = ["Acme", "ACME Originals", "Acmee", "Zebra", "", "Hugo", "Hugo Boss", "Kalo", "Nord"]
    qb = [names[i] for i in rng.integers(0, len(names), 40)]
    xb = [names[i] for i in rng.integers(0, len(names), 200)]
    searches, unbranded = plan_blocked_searches(
        query_keys=brand_keys(qb), index_keys=brand_keys(xb), threshold=80.0
    )
    seen = np.zeros((40, 200), dtype=np.int64)
    for q_rows, x_rows in [*searches, *unbranded]:
        assert (np.diff(q_rows) > 0).all() and (np.diff(x_rows) > 0).all()
        seen[np.ix_(q_rows, x_rows)] += 1
    np.testing.assert_array_equal(seen, _allowed(qb, xb).astype(np.int64))
    xk = brand_keys(xb)
    qk = brand_keys(qb)
    assert unbranded[0][0].tolist() == [i for i in range(40) if qk[i] == ""]
    assert len(unbranded[0][1]) == 200  # unbranded queries: the whole index
    assert sorted(unbranded[1][1].tolist()) == [j for j in range(200) if xk[j] == ""]
    # index keys compared with the same queries share one search
    assert len(searches) < len(set(xk))


@pytest.mark.parametrize("one_blas_thread", [False, True])
@pytest.mark.parametrize("sorted_index", [False, True])
@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("k", [1, 4, 60])
def test_blocked_search_equals_masked_brute_force_with_ties(
    monkeypatch, chunked, k, sorted_index, one_blas_thread
) -> None:
    """Vectors on a coarse grid: many exact ties, all broken by the lower index row. With
    ``sorted_index`` the index is in brand-key order (as the match service loads it): blocks
    are contiguous slices searched without copies. ``chunked``: small products, merged after
    every chunk; ``one_blas_thread``: every search takes the small-search path."""
    if chunked:
        monkeypatch.setattr(exact_search, "MAX_SCORES", 64)
        monkeypatch.setattr(exact_search, "MAX_INDEX_ROWS", 16)
        monkeypatch.setattr(exact_search, "MERGE_FACTOR", 1)
    monkeypatch.setattr(exact_search, "SMALL_SEARCH_PAIRS", 1 << 40 if one_blas_thread else 0)
    rng = np.random.default_rng(8)
    names = ["Acme", "ACME Originals", "Acmee", "Zebra", "", "Hugo", "Hugo Boss", "Kalo", "Nord"]
    qb = [names[i] for i in rng.integers(0, len(names), 50)]
    xb = [names[i] for i in rng.integers(0, len(names), 400)]
    q = rng.integers(-2, 3, size=(50, 6)).astype(np.float32) / 2  # exact products
    x = rng.integers(-2, 3, size=(400, 6)).astype(np.float32) / 2
    if sorted_index:
        order = sorted(range(400), key=lambda i: brand_keys([xb[i]])[0])
        xb, x = [xb[i] for i in order], x[order]
    got = _search(q, x, k=k, query_brands=qb, index_brands=xb, one_to_one=False)
    allowed = _allowed(qb, xb)
    idx, top = _masked_brute_force(q, x, allowed, k)
    assert len(np.unique(q @ x.T)) < 40  # ties everywhere
    np.testing.assert_array_equal(got.indices, idx)
    np.testing.assert_array_equal(got.similarities, top.astype(np.float32))
    assert got.comparisons == int(allowed.sum())
    unblocked = _search(q, x, k=k, one_to_one=False)
    np.testing.assert_array_equal(
        unblocked.indices, _masked_brute_force(q, x, np.ones_like(allowed), k)[0]
    )


def test_blocked_shortlist_feeds_one_to_one_like_masked_brute_force() -> None:
    """Default scoring (shortlist 50, one-to-one) on the blocked shortlist = on the masked one."""
    from matching.ml.one_to_one import final_ranking

    rng = np.random.default_rng(9)
    names = ["Acme", "Zebra", "", "Hugo", "Hugo Boss"]
    qb = [names[i] for i in rng.integers(0, len(names), 80)]
    xb = [names[i] for i in rng.integers(0, len(names), 300)]
    x = _unit(rng.normal(size=(300, 8)))
    q = _unit(x[rng.integers(0, 300, 80)] + 0.2 * rng.normal(size=(80, 8)))
    got = _search(q, x, k=3, shortlist=20, query_brands=qb, index_brands=xb)
    idx, top = _masked_brute_force(q, x, _allowed(qb, xb), 20)
    top = np.where(idx >= 0, top, -np.inf).astype(np.float32)
    expected = final_ranking(idx, top, top, k=3, one_to_one=True, penalty=0.5)
    np.testing.assert_array_equal(got.indices, expected[0])
    np.testing.assert_allclose(got.similarities, expected[1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("index_type", ["ivf", "hnsw"])
def test_blocked_search_uses_approximate_indexes_for_large_blocks(monkeypatch, index_type) -> None:
    monkeypatch.setattr(retrieval, "ANN_MIN_SIZE", 500)
    rng = np.random.default_rng(10)
    xb = ["Big"] * 1500 + ["Small"] * 300 + [""] * 200
    x = _unit(rng.normal(size=(2000, 16)))
    src = rng.integers(0, 1800, 200)  # branded queries
    q = _unit(x[src] + 0.05 * rng.normal(size=(200, 16)))
    qb = [xb[i] for i in src]
    built = []
    real_build = retrieval.build_index
    monkeypatch.setattr(
        retrieval,
        "build_index",
        lambda vecs, **kw: built.append(len(vecs)) or real_build(vecs, **kw),
    )
    got = _search(q, x, k=1, index_type=index_type, query_brands=qb, index_brands=xb)
    assert built == [1500]  # only the large block goes to the approximate index
    assert (got.indices[:, 0] == src).mean() > 0.9


@pytest.mark.parametrize(
    ("query_keys", "index_keys", "expected"),
    [
        (["a", "", "b"], ["a", "", "b", ""], [([1], [0, 1, 2, 3]), ([0, 2], [1, 3])]),
        (["a", "b"], ["a", "", "b"], [([0, 1], [1])]),  # no unbranded query
        (["", ""], ["a", ""], [([0, 1], [0, 1])]),  # no branded query
        (["a", ""], ["a", "b"], [([1], [0, 1])]),  # no unbranded index offer
        (["a"], ["a"], []),
    ],
)
def test_unbranded_searches_need_no_brand_matching(query_keys, index_keys, expected) -> None:
    from matching.ml.blocking_plan import unbranded_searches

    got = unbranded_searches(query_keys=query_keys, index_keys=index_keys)
    assert [(q.tolist(), x.tolist()) for q, x in got] == expected


def test_blocked_search_gives_blas_its_threads_back() -> None:
    from threadpoolctl import threadpool_info

    before = [i["num_threads"] for i in threadpool_info()]
    rng = np.random.default_rng(11)
    x = _unit(rng.normal(size=(120, 8)))
    q = _unit(rng.normal(size=(30, 8)))
    names = ["Acme", "", "Zebra"]
    _search(
        q,
        x,
        query_brands=[names[i % 3] for i in range(30)],
        index_brands=[names[i % 3] for i in range(120)],
    )
    assert [i["num_threads"] for i in threadpool_info()] == before
