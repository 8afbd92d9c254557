import math

import numpy as np
import pytest

from matching.ml import evaluation as ev
from matching.ml import metrics


def test_evaluate_against_product_ids():
    # queries: q0 matches index 1 (found at rank 1), q1 matches index 0 (found at rank 2),
    # q2 has no match in the index (predicted anyway), q3 has no product id
    result = ev.evaluate(
        query_product_ids=["p1", "p0", "p9", None],
        index_product_ids=["p0", "p1", "", "p7"],
        indices=np.array([[1, 0, 2], [3, 0, 1], [2, 3, 0], [0, 1, 2]]),
        similarities=np.array([[0.9, 0.5, 0.1], [0.8, 0.7, 0.1], [0.7, 0.2, 0.1], [0.6, 0.5, 0.4]]),
        k=3,
        query_categories=["Shoes", "Shoes", "", None],
    )
    m = result.metrics
    assert (m["n_queries"], m["n_index"], m["n_queries_with_match"]) == (4, 4, 2)
    assert m["R@1"] == 0.5 and m["R@3"] == 1.0 and "R@10" not in m
    # top-1 by similarity: q0 right (P 1, R .5), q1 wrong, q2 wrong, q3 wrong
    assert result.curve["precision"][0] == 1.0 and result.curve["recall"][0] == 0.5
    assert m["AUCPR"] == pytest.approx(0.5)
    assert m["best_F1"] == pytest.approx(2 * 1.0 * 0.5 / 1.5)
    assert set(m["per_category"]) == {"Shoes", "(none)"}
    assert m["per_category"]["Shoes"]["n_queries"] == 2
    assert result.true_pairs == [(0, 1), (1, 0)]


def test_evaluate_matches_the_metrics_primitives():
    rng = np.random.default_rng(0)
    n = 40
    q_pids = [f"p{i}" if i % 3 else None for i in range(n)]
    i_pids = [f"p{i}" for i in rng.permutation(n)]
    indices = np.stack([rng.permutation(n)[:3] for _ in range(n)])
    sims = np.sort(rng.random((n, 3)), axis=1)[:, ::-1]
    result = ev.evaluate(
        query_product_ids=q_pids, index_product_ids=i_pids, indices=indices, similarities=sims, k=3
    )
    relevant = ev.relevant_positions(query_product_ids=q_pids, index_product_ids=i_pids)
    assert result.metrics["R@3"] == metrics.recall_at_k(retrieved=indices, relevant=relevant, k=3)
    assert "per_category" not in result.metrics


def test_no_query_with_a_match_gives_nan_recall():
    result = ev.evaluate(
        query_product_ids=["x"],
        index_product_ids=["y"],
        indices=np.array([[0]]),
        similarities=np.array([[0.3]]),
        k=1,
    )
    assert math.isnan(result.metrics["R@1"])
    assert ev.jsonable(result.metrics)["R@1"] is None


def test_thin_curve_keeps_ends_and_caps_points():
    curve = {"recall": list(range(5000)), "precision": list(range(5000))}
    thin = ev.thin_curve(curve, max_points=100)
    assert len(thin["recall"]) <= 101 and thin["recall"][0] == 0 and thin["recall"][-1] == 4999
    small = {"recall": [1, 2], "precision": [3, 4]}
    assert ev.thin_curve(small) is small


def test_format_pct_and_jsonable():
    assert ev.format_pct(None) == "-" and ev.format_pct(0.1234) == "12.3"
    assert ev.jsonable({"a": np.float32(0.5), "b": [float("inf"), np.int64(3)]}) == {
        "a": 0.5,
        "b": [None, 3],
    }
