"""validation/quality.py: P_hitl, confusion rates, bootstrap, Krippendorff's alpha, the
report."""

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


# --------------------------------------------------------------------------- the report


def _r(pk, *, kind="review", status="decided", truth="match", truth_offer=None, decision=""):
    return quality.RowFacts(
        pk=pk,
        kind=kind,
        status=status,
        truth=truth,
        truth_offer_id=truth_offer,
        decision=decision,
        candidate_ids=(10 * pk, 10 * pk + 1, 10 * pk + 2),
    )


def _j(row, who, choice, seconds=2.0):
    return quality.JudgementFacts(
        row_id=row.pk, validator=who, choice=str(choice), seconds_spent=seconds
    )


def test_report_on_plain_facts():
    r1 = _r(1, truth_offer=10, decision="10")  # positive, right: TP
    r2 = _r(2, truth_offer=20, decision="21")  # positive, wrong candidate: FN + wrong_pick
    r3 = _r(3, kind="gold", truth="none", decision="none")  # negative, none: TN
    r4 = _r(4, kind="gold", truth="none", decision="40")  # negative, picked: FP
    r5 = _r(5, truth="unknown", decision="50")  # no ground truth: not in the rates
    r6 = _r(6, status="open", truth_offer=60)  # not decided yet
    judgements = [
        _j(r1, "ann", 10, 1.0),
        _j(r1, "bob", 10, 3.0),
        _j(r2, "ann", 21),
        _j(r2, "bob", 20),
        _j(r3, "ann", "none"),
        _j(r4, "bob", 40),
        _j(r5, "ann", 50, 9.0),
    ]
    q = quality.report(rows=[r1, r2, r3, r4, r5, r6], judgements=judgements, n_boot=50)
    assert q["rows"] == {
        "with_truth": 5,
        "decided_with_truth": 4,
        "gold_decided": 2,
        "by_status": {"decided": 5, "open": 1},
    }
    a = q["aggregated"]
    assert (a["tp"], a["fn"], a["fp"], a["tn"]) == (1, 1, 1, 1)
    g = q["aggregated_gold"]
    assert (g["tp"], g["fn"], g["fp"], g["tn"]) == (0, 0, 1, 1)
    s = q["judgements"]
    assert (s["tp"], s["fn"], s["fp"], s["tn"]) == (3, 1, 1, 1)  # bob was right on r2
    assert q["wrong_pick"] == 1
    ann, bob = q["validators"]
    assert (ann["name"], ann["n"], ann["accuracy"], ann["n_gold"], ann["gold_accuracy"]) == (
        "ann",
        3,
        pytest.approx(2 / 3),
        1,
        1.0,
    )
    assert (bob["n"], bob["accuracy"], bob["gold_accuracy"]) == (3, pytest.approx(2 / 3), 0.0)
    assert q["median_seconds"] == 2.0
    # P_model: share of review rows with ground truth whose answer is a candidate (r1, r2, r6)
    assert q["p_model"] == 1.0 and q["p_model_source"] == "review rows with ground truth"
    assert q["lr_plus_source"] == "gold rows"
    assert q["observed_precision"] == 0.5 and q["n_accepted_with_truth"] == 2
    # alpha: r1 both pick rank 0, r2 splits (rank 1 vs rank 0); single-judgement rows ignored.
    # Coincidences o00=2, o01=o10=1: D_o = 2/4, D_e = (16 - 9 - 1)/12 = 1/2 -> alpha = 0
    assert q["agreement_alpha"] == pytest.approx(0.0)
    assert q["agreement_rows"] == 2
    assert q["votes_per_decided_row"] == pytest.approx(7 / 5)  # r1..r5 decided, 7 judgements
    # a third judgement on r2 (agreeing with the second) does not enter the measure
    q3 = quality.report(
        rows=[r1, r2, r3, r4, r5, r6],
        judgements=[*judgements[:4], _j(r2, "cy", 20), *judgements[4:]],
        n_boot=50,
    )
    assert q3["agreement_alpha"] == pytest.approx(0.0)
    assert q3["votes_per_decided_row"] == pytest.approx(8 / 5)


def test_report_takes_p_model_from_the_routing_without_review_rows():
    gold = _r(1, kind="gold", truth="none", decision="none")
    q = quality.report(rows=[gold], judgements=[], routing_band_precision=0.4, n_boot=20)
    assert q["p_model"] == 0.4
    assert q["p_model_source"] == "top-1 precision of the review band on the PR curve"
    empty = quality.report(rows=[], judgements=[], n_boot=20)
    assert empty["p_model"] is None and math.isnan(empty["predicted_precision"])
    assert empty["median_seconds"] is None and empty["validators"] == []
