"""The vectorised bootstraps (multinomial / binomial resamples) agree with resampling rows."""

from __future__ import annotations

import math

import numpy as np
import pytest

from validation import quality
from validation.charts import PAD, H, W, pr_curve_svg, thinned_points
from validation.routing import PRCurve


def _slow_p_hitl_std(codes, pos, n_boot, seed):
    """The row-resampling reference (what the vectorised version replaces)."""
    rng = np.random.default_rng(seed)
    codes, pos = np.asarray(codes), np.asarray(pos)
    out = []
    for _ in range(n_boot):
        c = codes[rng.integers(0, len(codes), len(codes))]
        pm = pos[rng.integers(0, len(pos), len(pos))].mean()
        out.append(quality.p_hitl(float(pm), quality.confusion(c).lr_plus))
    v = np.asarray(out)
    return float(np.std(v[np.isfinite(v)], ddof=1))


def test_bootstrap_p_hitl_matches_row_resampling():
    rng = np.random.default_rng(1)
    codes = rng.choice(4, size=300, p=[0.4, 0.1, 0.05, 0.45])
    pos = rng.random(2000) < 0.6
    point, std = quality.bootstrap_p_hitl(gold_codes=codes, band_positive=pos, n_boot=2000)
    assert point == pytest.approx(quality.p_hitl(pos.mean(), quality.confusion(codes).lr_plus))
    assert std == pytest.approx(_slow_p_hitl_std(codes, pos, 2000, 2), rel=0.12)


def test_bootstrap_rates_and_precision_std_match_the_binomial_formula():
    rng = np.random.default_rng(2)
    codes = rng.choice(4, size=4000, p=[0.3, 0.2, 0.1, 0.4])
    std = quality.bootstrap_rates(codes, n_boot=3000)
    r = quality.confusion(codes)
    assert std["tpr"] == pytest.approx(math.sqrt(r.tpr * (1 - r.tpr) / (r.tp + r.fn)), rel=0.1)
    assert std["fpr"] == pytest.approx(math.sqrt(r.fpr * (1 - r.fpr) / (r.fp + r.tn)), rel=0.1)
    correct = rng.random(900) < 0.85
    p, s = quality.precision_with_std(correct, n_boot=3000)
    assert p == pytest.approx(correct.mean())
    assert s == pytest.approx(math.sqrt(p * (1 - p) / 900), rel=0.1)


def test_pr_curve_is_thinned_but_keeps_its_shape():
    n = 90_000
    recall = np.linspace(0, 0.8, n)
    precision = 1 - 0.3 * recall + 0.002 * np.sin(np.arange(n))
    pts = thinned_points(recall, precision)
    assert 10 < len(pts) < 2000
    ys = np.array([y for _, y in pts])
    orig_y = H - PAD - precision * (H - 2 * PAD)
    # the extremes survive (to within the one-pixel cell that merges neighbours)
    assert ys.min() == pytest.approx(orig_y.min(), abs=1.0)
    assert ys.max() == pytest.approx(orig_y.max(), abs=1.0)
    assert pts[0] == pytest.approx((PAD, H - PAD - precision[0] * (H - 2 * PAD)))
    assert pts[-1][0] == pytest.approx(PAD + 0.8 * (W - 2 * PAD))
    # every original point lies within a pixel of a kept point with the same x cell
    xs = np.array([x for x, _ in pts])
    orig_x = PAD + recall * (W - 2 * PAD)
    assert np.max(np.min(np.abs(orig_x[::997, None] - xs[None, :]), axis=1)) <= 1.0
    curve = PRCurve(precision=precision, recall=recall, thresholds=np.linspace(1, 0, n))
    svg = pr_curve_svg(curve=curve, accept=0.9, review=0.5)
    assert len(svg) < 40_000
