"""Calibration of top-1 similarities (matching/ml/calibration.py), on synthetic arrays."""

import json

import numpy as np
import pytest

from matching.ml import calibration as cal


def _draw(rng, n):
    """A known generating process: P(correct | s) = s**2 on s ~ U(0, 1); the top-k holds a
    match with probability min(1, 1.3 s**2); 70% of the queries have a match."""
    s = rng.uniform(0, 1, n)
    p1 = s**2
    c1 = rng.uniform(0, 1, n) < p1
    ck = c1 | (rng.uniform(0, 1, n) < np.minimum(1, 1.3 * p1) - p1)
    has = c1 | ck | (rng.uniform(0, 1, n) < 0.5)
    return s, p1, c1, ck, has


def test_fit_is_monotone_and_calibrated_on_held_out_data():
    rng = np.random.default_rng(0)
    s, _, c1, ck, has = _draw(rng, 20000)
    c = cal.fit_calibration(top1_similarity=s, top1_correct=c1, topk_correct=ck, has_match=has, k=3)
    grid = np.linspace(-0.5, 1.5, 201)
    p = c.predict_top1(grid)
    assert np.all(np.diff(p) >= -1e-12)
    assert p.min() >= 0 and p.max() <= 1
    assert np.all(c.predict_topk(grid) >= p - 1e-9)  # top-k holds at least the top-1
    # fresh data from the same process: close to the true curve and well calibrated
    s2, p_true, c1_2, _, _ = _draw(rng, 20000)
    pred = c.predict_top1(s2)
    assert np.abs(pred - p_true).mean() < 0.03
    assert cal.expected_calibration_error(pred, c1_2) < 0.03
    # an uncalibrated predictor (the raw score) is visibly worse
    assert cal.expected_calibration_error(s2, c1_2) > 0.1
    assert c.metrics["n_queries"] == 20000
    assert c.metrics["R@1"] == pytest.approx(c1[has].mean())
    assert 0 < c.metrics["AUCPR"] <= c.metrics["R@1"] + 1e-9


def test_round_trip_through_json():
    rng = np.random.default_rng(1)
    s, _, c1, ck, has = _draw(rng, 500)
    c = cal.fit_calibration(
        top1_similarity=s, top1_correct=c1, topk_correct=ck, has_match=has, k=3,
        setup={"match_config": {"k": 3}},
    )  # fmt: skip
    back = cal.Calibration.from_dict(json.loads(json.dumps(c.to_dict())))
    grid = np.linspace(0, 1, 57)
    np.testing.assert_allclose(back.predict_top1(grid), c.predict_top1(grid))
    np.testing.assert_allclose(back.predict_topk(grid), c.predict_topk(grid))
    assert back.setup == {"match_config": {"k": 3}}
    assert back.pr_curve["thresholds"] == c.pr_curve["thresholds"]
    assert cal.Calibration.from_dict({}) is None
    with pytest.raises(ValueError, match="format"):
        cal.Calibration.from_dict({**c.to_dict(), "version": 99})


def test_predict_matches_sklearn():
    from sklearn.isotonic import IsotonicRegression

    rng = np.random.default_rng(2)
    s = rng.normal(size=300)
    o = rng.uniform(size=300) < 1 / (1 + np.exp(-2 * s))
    m = cal.fit_isotonic(s, o)
    ref = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(s, o)
    grid = np.linspace(-4, 4, 101)
    np.testing.assert_allclose(m.predict(grid), ref.predict(grid))


def test_non_finite_scores_are_left_out_and_bad_input_is_refused():
    s = np.array([0.9, 0.8, -np.inf, 0.1, np.nan])
    c = cal.fit_calibration(
        top1_similarity=s, top1_correct=[1, 1, 0, 0, 0], topk_correct=[1, 1, 0, 0, 0],
        has_match=[1, 1, 1, 0, 0], k=3,
    )  # fmt: skip
    assert c.metrics["n_fitted"] == 3 and c.metrics["n_queries"] == 5
    with pytest.raises(ValueError, match="one similarity"):
        cal.fit_calibration(
            top1_similarity=[0.1], top1_correct=[1, 0], topk_correct=[1], has_match=[1], k=1
        )
    with pytest.raises(ValueError, match="no query"):
        cal.fit_calibration(
            top1_similarity=[-np.inf], top1_correct=[0], topk_correct=[0], has_match=[0], k=1
        )
    with pytest.raises(ValueError, match="non-decreasing"):
        cal.IsotonicMap(x=(0.0, 1.0), y=(0.5, 0.2))


def test_reliability_bins():
    bins = cal.reliability_bins(
        predicted=[0.05, 0.07, 0.95, 0.91, 0.5], observed=[0, 1, 1, 1, 0],
        scores=[0.1, 0.2, 0.9, 0.8, 0.5], n_bins=10,
    )  # fmt: skip
    assert [(b["lo"], b["n"]) for b in bins] == [(0.0, 2), (0.5, 1), (0.9, 2)]
    assert bins[0]["observed"] == 0.5 and bins[0]["predicted"] == pytest.approx(0.06)
    assert bins[2]["observed"] == 1.0 and (bins[2]["score_lo"], bins[2]["score_hi"]) == (0.8, 0.9)


def test_holdout_split_keeps_products_whole_and_includes_lone_offers():
    pids = ["a", "a", "b", "b", "b", None, "", "c", "d", "d"] * 10
    pids = [f"{p}{i // 10}" if p else p for i, p in enumerate(pids)]
    keep, held = cal.holdout_split(pids, share=0.3, seed=0)
    assert sorted([*keep, *held]) == list(range(len(pids)))
    kept_products = {pids[i] for i in keep if pids[i]}
    assert not kept_products & {pids[i] for i in held if pids[i]}
    assert any(not pids[i] for i in held)  # lone offers are held out too
    again = cal.holdout_split(pids, share=0.3, seed=0)
    np.testing.assert_array_equal(again[1], held)
    assert len(cal.holdout_split(pids, share=0.0, seed=0)[1]) == 0
    with pytest.raises(ValueError):
        cal.holdout_split(pids, share=1.0, seed=0)
