"""services/routing.py: route_run against the database."""

from __future__ import annotations

import pytest

from matching.models import MatchRun, Offer
from matching.selectors import RunNotDone
from validation.models import Decision, Judgement, ReviewRow, Routing
from validation.services import leasing as leasing_services
from validation.services.routing import route_run

from ..helpers import NO_GOLD, judge, judge_row

# --------------------------------------------------------------------------- routing


def test_route_run_bands_rows_and_auto_decisions(run):
    s = route_run(run=run, accept=0.8, review=0.5)
    rows = ReviewRow.objects.filter(run=run, kind="review")
    assert s["n_auto"] + s["n_review"] + s["n_dropped"] == 40
    assert rows.count() == s["n_review"] > 0
    assert all(0.5 <= r.top1_similarity < 0.8 for r in rows)
    assert len(rows[0].candidate_ids) == 3
    auto = Decision.objects.filter(run=run, source="auto")
    assert auto.count() == s["n_auto"]
    assert all(d.similarity >= 0.8 for d in auto)
    # every synthetic offer has a product id: rows have ground truth; gold rows come from outside
    assert not rows.filter(truth="unknown").exists()
    gold = ReviewRow.objects.filter(run=run, kind="gold")
    assert gold.count() == s["n_gold"] > 0
    assert all(not 0.5 <= g.top1_similarity < 0.8 for g in gold)
    assert Routing.objects.get(run=run, is_current=True).n_review == s["n_review"]


def test_truth_of_row(run):
    route_run(run=run, accept=None, review=0.0)
    for row in ReviewRow.objects.filter(run=run).select_related("query_offer"):
        pids = [Offer.objects.get(pk=i).product_id for i in row.candidate_ids]
        if row.query_offer.product_id in pids:
            assert row.truth == "match"
            assert row.truth_offer_id == row.candidate_ids[pids.index(row.query_offer.product_id)]
        else:
            assert row.truth == "none" and row.truth_offer_id is None


def test_route_suggests_thresholds(run):
    s = route_run(run=run)
    assert s["suggested"]
    assert s["review"] <= min(r.top1_similarity for r in ReviewRow.objects.filter(run=run))


def test_route_without_pr_curve_falls_back(run):
    run.pr_curve = {}
    run.save()
    s = route_run(run=run)
    assert s["accept"] is None and s["n_auto"] == 0
    assert s["n_dropped"] == 4  # below the 10th percentile of 40 queries


def test_rerouting_keeps_judgements_and_closes_rows(run, validators):
    route_run(run=run, accept=None, review=0.0)
    row = judge(validators[0])
    sims = sorted(r.top1_similarity for r in ReviewRow.objects.filter(run=run))
    # move the judged row out of the review band
    s = route_run(run=run, accept=None, review=row.top1_similarity + 1e-9)
    row.refresh_from_db()
    assert row.status == "closed"
    assert Judgement.objects.filter(row=row).count() == 1
    assert s["n_review_rows_closed"] == sum(1 for x in sims if x <= row.top1_similarity)
    assert leasing_services.lease_next_row(validator=validators[1], policy=NO_GOLD).row_id != row.pk
    # bring it back
    route_run(run=run, accept=None, review=0.0)
    row.refresh_from_db()
    assert row.status == "open" and row.n_judgements == 1


def test_human_decision_beats_auto_after_rerouting(run, validators):
    route_run(run=run, accept=None, review=0.0)
    row = None
    for v in validators[:2]:  # two agree: decided
        row = judge(v, choice="none") if row is None else judge_row(v, row, "none")
    assert row.status == "decided"
    route_run(run=run, accept=0.0, review=0.0)  # everything auto-accepted now
    d = Decision.objects.get(run=run, query_offer=row.query_offer)
    assert d.source == "human" and d.matched_offer is None


@pytest.mark.parametrize("status", [MatchRun.Status.RUNNING, MatchRun.Status.FAILED])
def test_a_run_that_is_not_done_is_not_routed(run, status):
    run.status = status
    run.save(update_fields=["status"])
    with pytest.raises(RunNotDone, match=f"run #{run.pk} is {status}, not done"):
        route_run(run=run, accept=0.8, review=0.5)
    assert not Routing.objects.filter(run=run).exists()
    assert not ReviewRow.objects.filter(run=run).exists()
    assert not Decision.objects.filter(run=run).exists()
