"""validation/quality.py: P_hitl, confusion rates, bootstrap, Fleiss' kappa, the report."""

from __future__ import annotations

import math

import numpy as np
import pytest

from validation import quality

# --------------------------------------------------------------------------- P_hitl


def test_p_hitl_paper_numbers():
    assert quality.p_hitl(0.285, 38) == pytest.approx(0.938, abs=0.002)
    assert round(quality.p_hitl(0.285, 38), 2) == 0.94
    assert quality.p_hitl(0.285, 44) == pytest.approx(0.946, abs=0.001)


def test_p_hitl_edges():
    assert quality.p_hitl(1.0, 5) == 1.0
    assert quality.p_hitl(0.5, math.inf) == 1.0
    assert quality.p_hitl(0.5, 1.0) == pytest.approx(0.5)  # useless validators change nothing
    assert math.isnan(quality.p_hitl(0.5, math.nan))


# --------------------------------------------------------------------------- confusion, bootstrap


def test_confusion_rates():
    codes = [quality.TP] * 80 + [quality.FN] * 20 + [quality.FP] * 2 + [quality.TN] * 98
    r = quality.confusion(codes)
    assert (r.tp, r.fn, r.fp, r.tn) == (80, 20, 2, 98)
    assert r.tpr == pytest.approx(0.8)
    assert r.fnr == pytest.approx(0.2)
    assert r.tnr == pytest.approx(0.98)
    assert r.fpr == pytest.approx(0.02)
    assert r.lr_plus == pytest.approx(40)


def test_confusion_zero_fpr_is_infinite_lr():
    assert quality.confusion([quality.TP, quality.TN]).lr_plus == math.inf


def test_bootstrap_std_matches_binomial():
    rng = np.random.default_rng(3)
    pos = rng.random(2000) < 0.8
    neg = rng.random(2000) < 0.05
    codes = [quality.TP if p else quality.FN for p in pos] + [
        quality.FP if n else quality.TN for n in neg
    ]
    sd = quality.bootstrap_rates(codes, n_boot=400, seed=1)
    # binomial sd of a proportion: sqrt(p(1-p)/n)
    assert sd["tpr"] == pytest.approx(math.sqrt(0.8 * 0.2 / 2000), rel=0.25)
    assert sd["fpr"] == pytest.approx(math.sqrt(0.05 * 0.95 / 2000), rel=0.25)
    assert sd["tpr"] == pytest.approx(sd["fnr"])
    assert sd["lr_plus"] > 0


def test_bootstrap_is_deterministic_for_a_seed():
    codes = [0, 1, 2, 3] * 20
    assert quality.bootstrap_rates(codes, seed=5) == quality.bootstrap_rates(codes, seed=5)


def test_bootstrap_p_hitl_centres_on_formula():
    codes = [quality.TP] * 83 + [quality.FN] * 17 + [quality.FP] * 4 + [quality.TN] * 196
    point, sd = quality.bootstrap_p_hitl(gold_codes=codes, band_positive=None, p_model=0.285)
    assert point == pytest.approx(quality.p_hitl(0.285, 0.83 / 0.02))
    assert 0 < sd < 0.1


def test_precision_with_std():
    p, sd = quality.precision_with_std([True] * 90 + [False] * 10, n_boot=500)
    assert p == pytest.approx(0.9)
    assert sd == pytest.approx(0.03, rel=0.3)


def test_fleiss_kappa_textbook_example():
    # Fleiss (1971) / Wikipedia example: 10 items, 14 raters, 5 categories -> 0.210
    table = np.array(
        [
            [0, 0, 0, 0, 14],
            [0, 2, 6, 4, 2],
            [0, 0, 3, 5, 6],
            [0, 3, 9, 2, 0],
            [2, 2, 8, 1, 1],
            [7, 7, 0, 0, 0],
            [3, 2, 6, 3, 0],
            [2, 5, 3, 2, 2],
            [6, 5, 2, 1, 0],
            [0, 2, 2, 3, 7],
        ]
    )
    assert quality.fleiss_kappa(table) == pytest.approx(0.210, abs=0.001)


def test_fleiss_kappa_perfect_agreement():
    assert quality.fleiss_kappa(np.array([[3, 0], [0, 3], [3, 0]])) == pytest.approx(1.0)
