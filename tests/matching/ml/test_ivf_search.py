import numpy as np
import pytest

from matching.ml import ivf_search, retrieval
from matching.ml.brands import brand_keys
from matching.ml.exact_search import exact_top
from matching.ml.match_config import MatchConfig


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _clustered(rng, n: int, nq: int, d: int = 24, clusters: int = 30):
    """Index vectors around ``clusters`` directions; queries: noisy copies of index rows."""
    centres = rng.normal(size=(clusters, d))
    x = _unit(centres[rng.integers(0, clusters, n)] + 0.35 * rng.normal(size=(n, d)))
    src = rng.integers(0, n, nq)
    q = _unit(x[src] + 0.1 * rng.normal(size=(nq, d)))
    return q, x, src


def _exact(q, x, w):
    out = np.empty((len(q), w), dtype=np.int64)
    for sl, cols, top in exact_top(q, x, w):
        out[sl] = np.take_along_axis(cols, np.lexsort((cols, -top), axis=1), axis=1)
    return out


def test_ivf_recall_against_exact_search_on_clustered_data() -> None:
    q, x, _ = _clustered(np.random.default_rng(0), 6000, 800)
    nlist = ivf_search.n_lists(len(x))
    exact = _exact(q, x, 10)
    local, scores = ivf_search.ivf_top(q, x, 10, nprobe=max(2, nlist // 4))
    assert (np.diff(scores, axis=1) <= 0).all()  # best first
    assert ivf_search.recall_at(local, exact, 10) >= 0.99
    assert ivf_search.recall_at(local, exact, 1) >= 0.99
    # scores are the exact inner products of the rows found
    ok = local >= 0
    np.testing.assert_allclose(
        scores[ok], np.einsum("ij,ij->i", np.repeat(q, 10, axis=0)[ok.ravel()], x[local[ok]]),
        rtol=1e-5, atol=1e-6,
    )  # fmt: skip
    # one list visited per query loses neighbours on the cluster borders: the recall is measured
    few = ivf_search.ivf_top(q, x, 10, nprobe=1)[0]
    assert ivf_search.recall_at(few, exact, 10) < ivf_search.recall_at(local, exact, 10)


def test_ivf_visiting_every_list_is_exact() -> None:
    q, x, _ = _clustered(np.random.default_rng(1), 3000, 200)
    exact = _exact(q, x, 7)
    local, _ = ivf_search.ivf_top(q, x, 7, nprobe=10_000)
    assert ivf_search.recall_at(local, exact, 7) == 1.0


def test_ivf_pads_when_the_visited_lists_hold_fewer_rows() -> None:
    q, x, _ = _clustered(np.random.default_rng(2), 400, 50, clusters=20)
    local, scores = ivf_search.ivf_top(q, x, 60, nprobe=1)  # ~20 rows per list
    assert (local == -1).any()
    assert np.isneginf(scores[local == -1]).all()
    assert (local[local >= 0] < len(x)).all()


def test_use_ivf_needs_a_large_index_and_enough_queries_per_list() -> None:
    nlist = ivf_search.n_lists(100_000)
    enough = ivf_search.MIN_QUERIES_PER_LIST * nlist
    assert ivf_search.use_ivf(n_queries=enough, n_index=100_000, min_comparisons=10**6)
    assert not ivf_search.use_ivf(n_queries=enough - 1, n_index=100_000, min_comparisons=10**6)
    assert not ivf_search.use_ivf(n_queries=10**4, n_index=100_000, min_comparisons=10**9 + 1)


def test_recall_at_counts_exact_rows_found() -> None:
    exact = np.array([[1, 2, 3], [4, -1, -1]])
    approx = np.array([[1, 9, 3], [-1, -1, 4]])
    assert ivf_search.recall_at(approx, exact, 3) == pytest.approx(3 / 4)
    assert ivf_search.recall_at(approx, exact, 1) == pytest.approx(1 / 2)


def _branded_catalogue(rng):
    q, x, src = _clustered(rng, 4000, 1200, d=16)
    names = ["Acme", "Zebra", "Hugo", "Kalo"]
    xb = [names[i % 4] if i % 5 else "" for i in range(len(x))]  # 20 % unbranded
    qb = [xb[s] for s in src]
    for i in range(0, len(qb), 7):
        qb[i] = ""  # some unbranded queries: the whole index
    return q, x, brand_keys(qb), brand_keys(xb)


def _blocked(q, x, qk, xk, **kw):
    cfg = MatchConfig(text_weight=0.0, **kw)
    return retrieval.search(query_vecs=q, index_vecs=x, config=cfg, query_keys=qk, index_keys=xk)


def test_config_switch_sends_only_the_unbranded_searches_to_ivf(monkeypatch) -> None:
    q, x, qk, xk = _branded_catalogue(np.random.default_rng(3))
    calls = []
    real = retrieval.ivf_top
    monkeypatch.setattr(
        retrieval,
        "ivf_top",
        lambda qv, xv, w, **kw: (
            calls.append((len(qv), len(xv), kw["nprobe"])) or real(qv, xv, w, **kw)
        ),
    )
    flat = _blocked(q, x, qk, xk, unbranded_index="flat", ivf_min_comparisons=500)
    assert calls == []
    n_unbranded_q = sum(not k for k in qk)
    n_unbranded_x = sum(not k for k in xk)
    # "ivf": (b) the branded queries x the unbranded index offers only
    ivf = _blocked(q, x, qk, xk, unbranded_index="ivf", ivf_min_comparisons=500, ivf_nprobe=3)
    assert calls == [(len(q) - n_unbranded_q, n_unbranded_x, 3)]
    assert ivf_search.recall_at(ivf.indices, flat.indices, 3) >= 0.99
    calls.clear()
    # "ivf_all": also (a) the unbranded queries x the whole index
    everything = _blocked(
        q, x, qk, xk, unbranded_index="ivf_all", ivf_min_comparisons=500, ivf_nprobe=3
    )
    assert sorted(calls) == sorted(
        [(n_unbranded_q, len(x), 3), (len(q) - n_unbranded_q, n_unbranded_x, 3)]
    )
    assert everything.comparisons == ivf.comparisons == flat.comparisons  # as if exact
    assert ivf_search.recall_at(everything.indices, flat.indices, 3) >= 0.99
    calls.clear()
    # below the size threshold the unbranded side stays exact
    small = _blocked(
        q, x, qk, xk, unbranded_index="ivf_all", ivf_min_comparisons=len(q) * len(x) + 1
    )
    assert calls == []
    np.testing.assert_array_equal(small.indices, flat.indices)


def test_ivf_leaves_brand_blocks_exact(monkeypatch) -> None:
    rng = np.random.default_rng(4)
    q, x, _ = _clustered(rng, 3000, 900, d=16)
    xb = ["Acme" if i % 2 else "" for i in range(len(x))]
    qk = brand_keys(["Zebra"] * 400 + [""] * 500)
    xk = brand_keys(["Zebra" if i < 300 else b for i, b in enumerate(xb)])
    monkeypatch.setattr(ivf_search, "MIN_QUERIES_PER_LIST", 1)
    plain = {"one_to_one": False, "k": 5}
    flat = _blocked(q, x, qk, xk, unbranded_index="flat", **plain)
    ivf = _blocked(
        q, x, qk, xk, unbranded_index="ivf", ivf_min_comparisons=100, ivf_nprobe=1, **plain
    )
    assert not np.array_equal(flat.indices, ivf.indices)  # IVF lost some unbranded rows
    # Zebra's block: its 300 offers (exact) and the unbranded ones (IVF): losing unbranded rows
    # can only move brand-block rows up, never drop one
    for a, b in zip(flat.indices[:400], ivf.indices[:400], strict=True):
        assert set(a[(a >= 0) & (a < 300)]) <= set(b.tolist())


@pytest.mark.parametrize(
    ("field", "value"),
    [("unbranded_index", "hnsw"), ("ivf_nprobe", 0), ("ivf_min_comparisons", 0)],
)
def test_match_config_checks_the_ivf_fields(field, value) -> None:
    with pytest.raises(ValueError, match=field):
        MatchConfig(**{field: value})


def test_match_config_ivf_fields_round_trip() -> None:
    cfg = MatchConfig(unbranded_index="flat", ivf_min_comparisons=5, ivf_nprobe=2)
    assert MatchConfig.from_dict(cfg.to_dict()) == cfg
    assert MatchConfig().unbranded_index == "flat"  # exact unless asked
