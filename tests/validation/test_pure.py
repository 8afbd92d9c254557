"""Plain-Python strategies: routing, aggregation, assignment, quality, export rules."""

from __future__ import annotations

import io
import math
import random

import numpy as np
import pytest

from validation import aggregation, assignment, quality, routing
from validation.export import ExportRow, one_to_one, write_csv

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


# --------------------------------------------------------------------------- aggregation


@pytest.mark.parametrize(
    ("choices", "decided", "choice", "votes", "needed"),
    [
        (["7", "7"], False, "", 2, 3),  # not enough judgements yet
        (["7", "7", "none"], True, "7", 2, 3),  # 2 of 3 > half
        (["7", "7", "7"], True, "7", 3, 3),
        (["none", "none", "7"], True, "none", 2, 3),
        (["7", "8", "none"], False, "", 1, 4),  # tie: one more judgement
        (["7", "8", "none", "7"], False, "", 2, 5),  # 2 of 4 is not more than half
        (["7", "8", "none", "7", "7"], True, "7", 3, 5),
    ],
)
def test_majority(choices, decided, choice, votes, needed):
    out = aggregation.decide(choices, rule="majority", required=3, max_extra=2)
    assert (out.decided, out.choice, out.votes_for, out.needed) == (decided, choice, votes, needed)


def test_majority_gives_up_after_max_extra():
    out = aggregation.decide(["7", "8", "none", "9", "10"], required=3, max_extra=2)
    assert out.decided and out.choice == "none" and out.no_majority and not out.accepted


def test_unanimous_rule():
    assert aggregation.decide(["7"] * 3, rule="unanimous").accepted
    out = aggregation.decide(["7", "7", "none"], rule="unanimous", max_extra=0)
    assert out.decided and out.no_majority and out.choice == "none"


def test_unknown_rule():
    with pytest.raises(ValueError, match="unknown aggregation rule"):
        aggregation.decide(["7"], rule="plurality")


# --------------------------------------------------------------------------- assignment


def test_slot_order_is_a_deterministic_permutation_and_maps_back():
    order = assignment.slot_order(row_id=5, validator_id=2, n=3, secret="s")
    assert sorted(order) == [0, 1, 2]
    assert order == assignment.slot_order(row_id=5, validator_id=2, n=3, secret="s")
    orders = {
        tuple(assignment.slot_order(row_id=r, validator_id=1, n=3, secret="s")) for r in range(60)
    }
    assert len(orders) == 6  # every permutation occurs
    ids = [101, 102, 103]
    for slot in (1, 2, 3):
        assert assignment.choice_for_slot(slot=slot, order=order, candidate_ids=ids) == str(
            ids[order[slot - 1]]
        )
    assert assignment.choice_for_slot(slot=0, order=order, candidate_ids=ids) == "none"
    with pytest.raises(ValueError):
        assignment.choice_for_slot(slot=4, order=order, candidate_ids=ids)


def test_gold_rate_of_lease_policy():
    policy = assignment.LeasePolicy(gold_rate=0.2, rng=random.Random(0))
    firsts = [policy.pools()[0] for _ in range(5000)]
    assert firsts.count("gold") / 5000 == pytest.approx(0.2, abs=0.02)
    assert assignment.LeasePolicy(gold_rate=0).pools() == ("review", "gold")
    assert policy.order_by()[0] == "-n_judgements"


# --------------------------------------------------------------------------- routing


CURVE = routing.PRCurve(
    precision=np.array([1.0, 1.0, 0.9, 0.75, 0.5]),
    recall=np.array([0.2, 0.4, 0.6, 0.8, 0.9]),
    thresholds=np.array([0.95, 0.9, 0.8, 0.7, 0.5]),
)


def test_bands():
    assert routing.band_of(0.95, accept=0.9, review=0.5) == "auto"
    assert routing.band_of(0.9, accept=0.9, review=0.5) == "auto"
    assert routing.band_of(0.6, accept=0.9, review=0.5) == "review"
    assert routing.band_of(0.49, accept=0.9, review=0.5) == "dropped"
    assert routing.band_of(0.99, accept=None, review=0.5) == "review"
    assert routing.split_bands([0.95, 0.6, 0.1], accept=0.9, review=0.5) == {
        "auto": 1,
        "review": 1,
        "dropped": 1,
    }


def test_suggest_thresholds_from_curve():
    assert routing.suggest_accept(CURVE, target_precision=0.99) == 0.9
    assert routing.suggest_accept(CURVE, target_precision=0.8) == 0.8
    assert (
        routing.suggest_accept(
            routing.PRCurve(np.array([0.5]), np.array([1.0]), np.array([0.3])),
            target_precision=0.99,
        )
        is None
    )
    th = routing.resolve_thresholds(
        curve=CURVE, similarities=[0.9], accept=None, review=None, target_precision=0.99
    )
    assert th.accept == 0.9 and th.review == 0.5 and th.suggested


def test_given_thresholds_win_and_review_never_above_accept():
    th = routing.resolve_thresholds(curve=CURVE, similarities=[], accept=0.8, review=0.85)
    assert (th.accept, th.review, th.suggested) == (0.8, 0.8, False)


def test_fallback_without_curve():
    sims = list(np.linspace(0, 1, 101))
    th = routing.resolve_thresholds(curve=None, similarities=sims, accept=None, review=None)
    assert th.accept is None
    assert th.review == pytest.approx(0.1)


def test_band_precision_recall_from_curve():
    # queries >= 0.9: recall 0.4, precision 1 -> TP 0.4n, predicted 0.4n
    # queries >= 0.7: recall 0.8, precision 0.75 -> TP 0.8n, predicted 1.0667n
    p, r = routing.band_precision_recall(CURVE, hi=0.9, lo=0.7)
    assert r == pytest.approx(0.4)
    assert p == pytest.approx(0.4 / (0.8 / 0.75 - 0.4))
    p_all, r_all = routing.band_precision_recall(CURVE, hi=None, lo=None)
    assert (p_all, r_all) == (pytest.approx(0.5), pytest.approx(0.9))
    table = routing.band_table(curve=CURVE, counts={"auto": 2, "review": 3}, accept=0.9, review=0.7)
    assert [b["band"] for b in table] == ["auto", "review", "dropped"]
    assert table[0]["precision"] == pytest.approx(1.0)
    assert table[1]["n"] == 3


# --------------------------------------------------------------------------- export


def _row(q, m, decision="auto", sim=0.9, votes=0, shop="A"):
    return ExportRow(
        q, m, f"q{q}", shop, f"m{m}", "B", sim, decision, votes, 3 if votes else 0, "t"
    )


def test_one_to_one_prefers_human_then_similarity():
    rows = [
        _row(1, 10, sim=0.99),
        _row(2, 10, decision="human", sim=0.6, votes=3),
        _row(3, 11, sim=0.7),
        _row(4, 11, sim=0.8),
        _row(5, 11, sim=0.8, shop="C"),  # other query shop: no conflict
    ]
    kept, dropped = one_to_one(rows)
    assert dropped == 2
    assert {(r.query_pk, r.matched_pk) for r in kept} == {(2, 10), (4, 11), (5, 11)}


def test_write_csv_columns():
    buf = io.StringIO()
    assert write_csv([_row(1, 10)], buf) == 1
    header, line = buf.getvalue().splitlines()
    assert header == (
        "query_offer_id,query_shop,matched_offer_id,matched_shop,similarity,decision,"
        "votes_for,votes_total,decided_at"
    )
    assert line == "q1,A,m10,B,0.900000,auto,0,0,t"
