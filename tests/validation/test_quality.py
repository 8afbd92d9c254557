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
    # kappa: r1 both pick rank 0, r2 splits (rank 1 vs rank 0); single-judgement rows ignored
    table = np.array([[2, 0, 0, 0], [1, 1, 0, 0]])
    assert q["fleiss_kappa"] == pytest.approx(quality.fleiss_kappa(table))


def test_report_takes_p_model_from_the_routing_without_review_rows():
    gold = _r(1, kind="gold", truth="none", decision="none")
    q = quality.report(rows=[gold], judgements=[], routing_band_precision=0.4, n_boot=20)
    assert q["p_model"] == 0.4
    assert q["p_model_source"] == "top-1 precision of the review band on the PR curve"
    empty = quality.report(rows=[], judgements=[], n_boot=20)
    assert empty["p_model"] is None and math.isnan(empty["predicted_precision"])
    assert empty["median_seconds"] is None and empty["validators"] == []
