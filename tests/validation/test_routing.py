"""validation/routing.py: bands, thresholds, band precision, the routing plan."""

from __future__ import annotations

import numpy as np
import pytest

from validation import routing, routing_plan

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


# --------------------------------------------------------------------------- the routing plan


def _query(q, sims, *, pid="p", cand_pids=None, first_cand=100):
    cand_pids = cand_pids or [f"x{q}{i}" for i in range(len(sims))]
    return routing_plan.QueryFacts(
        query_offer_id=q,
        product_id=pid,
        candidates=tuple(
            routing_plan.CandidateFacts(
                offer_id=first_cand + 10 * q + i, product_id=cp, similarity=s
            )
            for i, (s, cp) in enumerate(zip(sims, cand_pids, strict=True))
        ),
    )


def _plan(queries, existing=(), *, accept=0.9, review=0.5, human=(), gold=10, seed=0):
    return routing_plan.plan_routing(
        queries=queries,
        existing=list(existing),
        accept=accept,
        review=review,
        human_decided=set(human),
        gold_pool_size=gold,
        seed=seed,
    )


def test_truth_of():
    c = [
        routing_plan.CandidateFacts(offer_id=1, product_id="a", similarity=0.9),
        routing_plan.CandidateFacts(offer_id=2, product_id="b", similarity=0.8),
    ]
    assert routing_plan.truth_of(query_product_id="b", candidates=c) == ("match", 2)
    assert routing_plan.truth_of(query_product_id="z", candidates=c) == ("none", None)
    assert routing_plan.truth_of(query_product_id=None, candidates=c) == ("unknown", None)
    unknown_cand = [*c, routing_plan.CandidateFacts(offer_id=3, product_id=None, similarity=0.1)]
    assert routing_plan.truth_of(query_product_id="z", candidates=unknown_cand) == ("unknown", None)


def test_plan_bands_new_review_rows_and_auto_decisions():
    queries = [
        _query(1, [0.95, 0.2], pid="p1", cand_pids=["p1", "q"]),  # auto
        _query(2, [0.7, 0.6], pid="p2", cand_pids=["y", "p2"]),  # review, true match is rank 2
        _query(3, [0.3, 0.2], pid=None),  # dropped, no product id: never gold
        _query(4, [0.92, 0.1]),  # auto, but humans decided it already
    ]
    plan = _plan(queries, human={4}, gold=0)
    assert plan.bands == {"auto": 2, "review": 1, "dropped": 1}
    (row,) = plan.new_review_rows
    assert (row.query_offer_id, row.kind, row.truth) == (2, "review", "match")
    assert row.truth_offer_id == row.candidate_ids[1] == 121
    assert row.top1_similarity == 0.7
    assert [(d.query_offer_id, d.matched_offer_id, d.similarity) for d in plan.auto_decisions] == [
        (1, 110, 0.95)
    ]
    assert plan.updates == () and plan.closed_row_ids == () and plan.gold_rows == ()


def test_plan_rerouting_closes_reopens_and_converts_rows():
    queries = [_query(1, [0.6]), _query(2, [0.3]), _query(3, [0.6]), _query(4, [0.3])]
    existing = [
        routing_plan.ExistingRow(pk=11, query_offer_id=1, kind="review", status="closed"),  # back
        routing_plan.ExistingRow(pk=12, query_offer_id=2, kind="review", status="open"),  # leaves
        routing_plan.ExistingRow(pk=13, query_offer_id=3, kind="gold", status="decided"),  # joins
        routing_plan.ExistingRow(pk=14, query_offer_id=4, kind="review", status="decided"),  # kept
    ]
    plan = _plan(queries, existing, gold=0)
    assert plan.new_review_rows == ()
    assert set(plan.updates) == {
        routing_plan.RowUpdate(pk=11, kind="review", status="open", reroute=True),
        routing_plan.RowUpdate(pk=12, kind="review", status="closed", reroute=False),
        routing_plan.RowUpdate(pk=13, kind="review", status="decided", reroute=True),
    }
    assert plan.closed_row_ids == (12,)
    assert plan.n_gold == 0  # the gold row became a review row


def test_plan_gold_rows_fill_the_pool_once_deterministically():
    # ten dropped queries with known answers, one without (unknown truth), one with a row
    queries = [_query(q, [0.2, 0.1], pid=f"p{q}") for q in range(1, 11)]
    queries.append(_query(11, [0.2, 0.1], pid="p11", cand_pids=["p0", None]))
    queries.append(_query(12, [0.2, 0.1], pid="p12"))
    existing = [routing_plan.ExistingRow(pk=5, query_offer_id=12, kind="gold", status="open")]
    plan = _plan(queries, existing, gold=4, seed=3)
    assert len(plan.gold_rows) == 3 and plan.n_gold == 4  # one gold row existed
    assert all(r.kind == "gold" and r.truth == "none" for r in plan.gold_rows)
    assert {r.query_offer_id for r in plan.gold_rows} <= set(range(1, 11))
    assert plan.gold_rows == _plan(queries, existing, gold=4, seed=3).gold_rows
    others = {
        tuple(r.query_offer_id for r in _plan(queries, existing, gold=4, seed=s).gold_rows)
        for s in range(10)
    }
    assert len(others) > 1  # the draw depends on the seed
    assert _plan(queries, existing, gold=1).gold_rows == ()


def test_plan_values_are_the_model_choices():
    from validation.models import ReviewRow

    # (conflict rows are made by services/conflicts.py, not by the routing plan)
    assert {routing_plan.ROW_REVIEW, routing_plan.ROW_GOLD, ReviewRow.Kind.CONFLICT} == set(
        ReviewRow.Kind.values
    )
    from validation import assignment

    assert {assignment.REVIEW, assignment.GOLD, assignment.CONFLICT} == set(ReviewRow.Kind.values)
    assert {routing_plan.ROW_OPEN, routing_plan.ROW_CLOSED} < set(ReviewRow.Status.values)
    assert {routing_plan.TRUTH_UNKNOWN, routing_plan.TRUTH_MATCH, routing_plan.TRUTH_NONE} == set(
        ReviewRow.Truth.values
    )


def test_search_only_fields_are_not_scoring_differences() -> None:
    from matching.ml.match_config import SEARCH_ONLY_FIELDS, MatchConfig
    from validation import routing as routing_core

    assert frozenset(SEARCH_ONLY_FIELDS) == routing_core.SEARCH_ONLY_FIELDS
    calibrated = MatchConfig(text_weight=0.0).to_dict()
    run = MatchConfig(
        text_weight=0.0, unbranded_index="flat", ivf_nprobe=3, ivf_min_comparisons=7, k=5
    ).to_dict()
    calibration = routing_core.ModelCalibration(
        model_id=1, top1_probability=lambda s: s, recall_at_1=None, match_config=calibrated
    )
    assert routing_core.scoring_differences(run_config=run, calibration=calibration) == ["k"]
