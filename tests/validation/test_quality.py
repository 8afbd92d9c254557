"""validation/quality.py: P_hitl, confusion rates, bootstrap, Krippendorff's alpha (the report:
test_quality_report.py)."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from validation import aggregation, agreement, quality

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


def test_p_hitl_forecast_keeps_uncertainty_without_false_positives():
    """A gold set with no false positive: the raw LR+ is infinite, the forecast is not 1 ± 0."""
    codes = [quality.TP] * 60 + [quality.FN] * 10 + [quality.TN] * 40
    assert quality.confusion(codes).lr_plus == math.inf
    # the Haldane-Anscombe correction: 1/2 added to every cell
    assert quality.forecast_lr_plus(60, 10, 0, 40) == pytest.approx((60.5 / 71) / (0.5 / 41))
    point, sd = quality.bootstrap_p_hitl(gold_codes=codes, band_positive=None, p_model=0.6)
    assert 0.95 < point < 1.0
    assert sd > 0.005
    # more gold rows without a false positive: a higher forecast, a narrower spread
    more = [quality.TP] * 600 + [quality.FN] * 100 + [quality.TN] * 400
    point_more, sd_more = quality.bootstrap_p_hitl(gold_codes=more, band_positive=None, p_model=0.6)
    assert point_more > point and sd_more < sd


def test_precision_with_std():
    p, sd = quality.precision_with_std([True] * 90 + [False] * 10, n_boot=500)
    assert p == pytest.approx(0.9)
    assert sd == pytest.approx(0.03, rel=0.3)


def test_krippendorff_alpha_published_example():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability": 4 coders, 12 units,
    # missing values, nominal alpha = 0.743
    n = None
    coders = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, n, n, n],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, n, 3],
        [n, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, n],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, n],
    ]
    units = [[v for v in unit if v is not None] for unit in zip(*coders, strict=True)]
    assert agreement.krippendorff_alpha_nominal(units) == pytest.approx(0.743, abs=0.0005)
    assert agreement.krippendorff_alpha_nominal([[1, 1], [2, 2]]) == 1.0
    assert agreement.krippendorff_alpha_nominal([[1, 2], [2, 1]]) == pytest.approx(-0.5)
    assert math.isnan(agreement.krippendorff_alpha_nominal([[1]]))


def test_alpha_on_the_first_two_judgements_is_unbiased_under_early_decision():
    """Binary votes of accuracy 0.8 on balanced rows: the first two judgements give the same
    alpha with and without early decision (about (0.68 - 0.5) / 0.5 = 0.36); all judgements of
    early-decided rows would overstate it (the rows that stop early are those that agree)."""
    rng = random.Random(7)
    early_all, early_first_two, full_all = [], [], []
    for _ in range(4000):
        truth = rng.choice(["1", "none"])
        other = "none" if truth == "1" else "1"
        votes = [truth if rng.random() < 0.8 else other for _ in range(3)]
        _, used = aggregation.run_process(votes)
        early_all.append(votes[:used])
        early_first_two.append(votes[:2])
        full_all.append(votes)
    a_first_two = agreement.krippendorff_alpha_nominal(early_first_two)
    assert a_first_two == pytest.approx(0.36, abs=0.04)
    assert agreement.krippendorff_alpha_nominal(full_all) == pytest.approx(0.36, abs=0.04)
    assert agreement.krippendorff_alpha_nominal(early_all) > a_first_two + 0.05


def _alpha_unit_by_unit(units):
    """Krippendorff's alpha with the coincidence matrix summed unit by unit (the textbook
    loop; agreement.krippendorff_alpha_nominal sums the units of one size at once)."""
    units = [list(u) for u in units if len(u) >= 2]
    values = sorted({v for u in units for v in u}, key=str)
    index = {v: i for i, v in enumerate(values)}
    o = np.zeros((len(values), len(values)))
    for u in units:
        c = np.bincount([index[v] for v in u], minlength=len(values)).astype(float)
        o += (np.outer(c, c) - np.diag(c)) / (len(u) - 1)
    n_c = o.sum(axis=1)
    n = n_c.sum()
    d_e = (n * n - (n_c**2).sum()) / (n * (n - 1))
    return float(1 - ((n - np.trace(o)) / n) / d_e)


@pytest.mark.parametrize("seed", range(6))
def test_alpha_equals_the_unit_by_unit_sum(seed):
    rng = random.Random(seed)
    pairs = [[rng.choice([-1, 0, 1, 2]) for _ in range(2)] for _ in range(500)]
    # pairs (the quality report's first two judgements): the very same number
    assert agreement.krippendorff_alpha_nominal(pairs) == _alpha_unit_by_unit(pairs)
    mixed = [[rng.choice([-1, 0, 1, "x"]) for _ in range(rng.randint(1, 5))] for _ in range(300)]
    assert agreement.krippendorff_alpha_nominal(mixed) == pytest.approx(
        _alpha_unit_by_unit(mixed), abs=1e-12
    )
