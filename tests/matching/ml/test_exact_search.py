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
