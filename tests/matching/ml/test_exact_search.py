import numpy as np
import pytest

from matching.ml import exact_search
from matching.ml.exact_search import exact_top


@pytest.mark.parametrize("max_scores", [50, 1 << 21])
@pytest.mark.parametrize("w", [1, 3, 20, 200])
def test_exact_top_equals_a_stable_sort(monkeypatch, max_scores, w) -> None:
    """Grid vectors: many ties, which must go to the lower row in every chunking."""
    monkeypatch.setattr(exact_search, "MAX_SCORES", max_scores)
    monkeypatch.setattr(exact_search, "MAX_QUERY_ROWS", 7)
    rng = np.random.default_rng(w)
    q = rng.integers(-2, 3, size=(23, 5)).astype(np.float32)
    x = rng.integers(-2, 3, size=(700, 5)).astype(np.float32)
    cols = np.full((23, min(w, 700)), -1)
    vals = np.zeros(cols.shape, dtype=np.float32)
    for qs, local, top in exact_top(q, x, min(w, 700)):
        order = np.lexsort((local, -top), axis=1)
        cols[qs] = np.take_along_axis(local, order, axis=1)
        vals[qs] = np.take_along_axis(top, order, axis=1)
    sims = q @ x.T
    expected = np.argsort(-sims, axis=1, kind="stable")[:, : min(w, 700)]
    np.testing.assert_array_equal(cols, expected)
    np.testing.assert_array_equal(vals, np.take_along_axis(sims, expected, axis=1))


@pytest.mark.parametrize("max_scores", [40, 2000, 1 << 21])
@pytest.mark.parametrize("w", [1, 3, 12])
def test_packed_top_equals_a_stable_sort_inside_each_search(monkeypatch, max_scores, w) -> None:
    """Small searches packed into shared products (masked): each query's w best rows of its own
    search only, ties to the lower row, however the searches are batched."""
    monkeypatch.setattr(exact_search, "MAX_SCORES", max_scores)
    rng = np.random.default_rng(w + max_scores)
    q = rng.integers(-2, 3, size=(40, 4)).astype(np.float32)
    x = rng.integers(-2, 3, size=(300, 4)).astype(np.float32)
    searches = []
    for size_q, size_x in [(1, 2), (3, 5), (2, 30), (5, 1), (1, 80), (4, 12), (7, 3), (2, 60)]:
        q_rows = np.sort(rng.choice(40, size=size_q, replace=False))
        x_rows = np.sort(rng.choice(300, size=size_x, replace=False))
        searches.append((q_rows, x_rows))
    pairs = []
    for qr, xr, sv in exact_search.packed_top(q, x, searches, w):
        pairs += zip(qr.tolist(), xr.tolist(), sv.tolist(), strict=True)
    expected = []
    for q_rows, x_rows in searches:
        sims = q[q_rows] @ x[x_rows].T
        for r, a in enumerate(q_rows.tolist()):
            best = np.argsort(-sims[r], kind="stable")[:w]
            expected += [(a, int(x_rows[c]), float(sims[r, c])) for c in best]
    assert sorted(pairs) == sorted(expected)
