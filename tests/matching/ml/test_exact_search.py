import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from matching.ml import exact_search
from matching.ml.exact_search import (
    block_top,
    exact_top,
    order_by_row_value,
    row_value_keys,
    search_blocks,
)


@pytest.mark.parametrize("merge_factor", [1, 2, 1000])
@pytest.mark.parametrize("max_index_rows", [33, 8192])
@pytest.mark.parametrize("max_scores", [50, 1 << 21])
@pytest.mark.parametrize("w", [1, 3, 20, 200])
def test_exact_top_equals_a_stable_sort(
    monkeypatch, max_scores, max_index_rows, merge_factor, w
) -> None:
    """Grid vectors: many ties, which must go to the lower row in every chunking (merging
    after every chunk, after a few, or once at the end)."""
    monkeypatch.setattr(exact_search, "MAX_SCORES", max_scores)
    monkeypatch.setattr(exact_search, "MAX_QUERY_ROWS", 7)
    monkeypatch.setattr(exact_search, "MAX_INDEX_ROWS", max_index_rows)
    monkeypatch.setattr(exact_search, "MERGE_FACTOR", merge_factor)
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


def test_order_by_row_value_equals_lexsort_with_ties_signed_zeros_and_infinities() -> None:
    rng = np.random.default_rng(0)
    n = 5000
    rows = rng.integers(0, 40, n)
    pool = np.array([-np.inf, -1.5, -1e-30, -0.0, 0.0, 1e-30, 0.25, 0.5, 3.0, np.inf])
    vals = rng.choice(pool, n).astype(np.float32)
    ties = rng.permutation(n)
    expected = np.lexsort((ties, -vals, rows))
    np.testing.assert_array_equal(order_by_row_value(rows, vals, ties), expected)
    # -0.0 and 0.0 are one value: their order comes from ``ties`` alone
    keys = row_value_keys(np.zeros(2, dtype=np.int64), np.array([-0.0, 0.0], np.float32))
    assert keys[0] == keys[1]
    # float64 values are not cut to float32: same as lexsort
    close = np.array([0.1, 0.1 + 1e-12, 0.1], dtype=np.float64)
    np.testing.assert_array_equal(
        order_by_row_value(np.zeros(3, np.int64), close, np.arange(3)), [1, 0, 2]
    )
    with pytest.raises(TypeError, match="float32"):
        row_value_keys(np.zeros(3, np.int64), close)


def _expected_pairs(q, x, q_rows, x_rows, width):
    """Stable-sort top-``width`` of every query over ``x_rows``, as a set of (q, x, score)."""
    sims = q[q_rows] @ x[x_rows].T
    order = np.argsort(-sims, axis=1, kind="stable")[:, :width]
    return {
        (int(q_rows[i]), int(x_rows[j]), float(sims[i, j]))
        for i in range(len(q_rows))
        for j in order[i]
    }


@pytest.mark.parametrize("grid", [False, True])
@pytest.mark.parametrize("n_index", [5, 12, 60, 400])
def test_block_top_equals_a_stable_sort_on_slices_and_gathers(grid, n_index) -> None:
    """Every path of block_top: all pairs kept (n <= width), one product with and without
    a tie at the w-th best (grid: ties everywhere), several chunks."""
    rng = np.random.default_rng(n_index)
    if grid:
        q = rng.integers(-2, 3, size=(30, 4)).astype(np.float32)
        x = rng.integers(-2, 3, size=(1000, 4)).astype(np.float32)
    else:
        q = rng.normal(size=(30, 8)).astype(np.float32)
        x = rng.normal(size=(1000, 8)).astype(np.float32)
    q_rows = np.sort(rng.choice(30, 11, replace=False))
    for x_rows in (
        np.arange(100, 100 + n_index),  # a slice
        np.sort(rng.choice(1000, n_index, replace=False)),  # a gather
    ):
        got = block_top(q, x, q_rows, x_rows, 10)
        got_set = {(int(a), int(b), float(c)) for a, b, c in zip(*got, strict=True)}
        assert len(got_set) == len(got[0]) == len(q_rows) * min(10, n_index)
        assert got_set == _expected_pairs(q, x, q_rows, x_rows, 10)
        assert got[2].dtype == np.float32


def test_search_blocks_small_and_large_searches_and_blas_threads_restored(monkeypatch) -> None:
    monkeypatch.setattr(exact_search, "SMALL_SEARCH_PAIRS", 500)
    monkeypatch.setattr(exact_search, "MAX_SCORES", 300)
    rng = np.random.default_rng(3)
    q = rng.integers(-2, 3, size=(40, 5)).astype(np.float32)
    x = rng.integers(-2, 3, size=(900, 5)).astype(np.float32)
    searches = [
        (np.arange(0, 3), np.arange(0, 20)),  # small, all pairs kept
        (np.arange(3, 10), np.arange(20, 80)),  # small, selection
        (np.arange(10, 40), np.arange(80, 900)),  # large, chunked
        (np.arange(0, 40, 3), np.arange(0, 900, 7)),  # large, gathered
    ]
    before = [info["num_threads"] for info in threadpool_info()]
    found = search_blocks(q, x, searches, 8)
    assert [info["num_threads"] for info in threadpool_info()] == before
    got = {(int(a), int(b), float(c)) for f in found for a, b, c in zip(*f, strict=True)}
    expected = set().union(*(_expected_pairs(q, x, a, b, 8) for a, b in searches))
    assert got == expected


def test_in_background_runs_both_streams_on_half_the_blas_threads_and_restores_them() -> None:
    from matching.ml.exact_search import in_background

    def blas_threads() -> list[int]:
        """numpy's BLAS (an OpenMP one, as FAISS's, counts threads per calling thread)."""
        return [
            i["num_threads"]
            for i in threadpool_info()
            if i["user_api"] == "blas" and "numpy" in i["filepath"]
        ]

    before = blas_threads()
    if not before:
        pytest.skip("numpy's BLAS is not one threadpoolctl controls")
    read = threading.Event()

    def work() -> list[int]:
        threads = blas_threads()
        read.set()
        return threads

    half = max(1, max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas") // 2)
    with in_background(work) as pending:
        assert read.wait(30)  # the worker ran while the body runs
        inside = blas_threads()
    assert inside == [half] * len(before)
    assert pending.result() == [half] * len(before)
    assert blas_threads() == before

    def fail() -> None:
        raise ValueError("worker failed")

    with pytest.raises(ValueError, match="worker failed"):
        with in_background(fail) as pending:
            pass
        pending.result()
    assert blas_threads() == before


def test_block_top_casts_float64_vectors_to_float32() -> None:
    rng = np.random.default_rng(4)
    q = rng.integers(-2, 3, size=(9, 4)).astype(np.float64)  # grid: ties at the w-th best
    x = rng.integers(-2, 3, size=(300, 4)).astype(np.float64)
    q_rows, x_rows = np.arange(9), np.arange(20, 220)
    got = block_top(q, x, q_rows, x_rows, 10)
    assert got[2].dtype == np.float32
    expected = _expected_pairs(q.astype(np.float32), x.astype(np.float32), q_rows, x_rows, 10)
    assert {(int(a), int(b), float(c)) for a, b, c in zip(*got, strict=True)} == expected
