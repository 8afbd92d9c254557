"""Run decisions after a human override (issue 9): a re-run does not re-ask the overruled pair,
and the run's decisions, its match export and the matches API agree with the products."""

from __future__ import annotations

import io

import pytest

from demo.synthetic_run import create_synthetic_run
from matching.models import (
    Candidate,
    MatchRun,
    Offer,
    PairVerdict,
    ProductConflict,
    ProductMembership,
)
from matching.product_export import write_products_csv
from validation import withdrawals
from validation.export import one_to_one
from validation.models import Decision, ReviewRow
from validation.selectors.matches import accepted_decisions
from validation.selectors.runs import accepted_matches
from validation.services import review as review_services
from validation.services.export import write_export
from validation.services.routing import route_run

from ..helpers import judge, judge_row
from .test_loop_routing import rerun

pytestmark = pytest.mark.django_db


def offer(run, shop, offer_id) -> Offer:
    return Offer.objects.get(shop=getattr(run, shop), offer_id=offer_id)


@pytest.fixture
def overruled(cfg, validators):
    """Run 1: q0 auto-accepted to i0-1 (0.95); q1 reviewed with i0-1 (0.6) and i1-2 (0.55);
    the other queries dropped. Two validators accept i0-1 for q1: the automatic q0 -> i0-1 is
    superseded (q0 and q1 are of one shop, a product holds one offer per shop)."""
    cfg.gold_pool_size = 0
    cfg.save()
    run = create_synthetic_run(n_queries=4, seed=7)
    q0, q1 = offer(run, "query_shop", "q0"), offer(run, "query_shop", "q1")
    i01, i12 = offer(run, "index_shop", "i0-1"), offer(run, "index_shop", "i1-2")
    Candidate.objects.filter(run=run).update(similarity=0.1)
    Candidate.objects.filter(run=run, query_offer=q0, rank=1).update(similarity=0.95)
    Candidate.objects.filter(run=run, query_offer=q0, rank=2).update(similarity=0.5)
    Candidate.objects.filter(run=run, query_offer=q1, rank=1).update(
        candidate_offer=i01, similarity=0.6
    )
    Candidate.objects.filter(run=run, query_offer=q1, rank=2).update(similarity=0.55)
    summary = route_run(run=run, accept=0.9, review=0.5)
    assert (summary["n_auto"], summary["n_review"]) == (1, 1)
    assert Decision.objects.get(run=run, query_offer=q0).matched_offer_id == i01.pk
    judge(validators[0], choice=i01.pk)
    row = judge(validators[1], choice=i01.pk)
    assert (row.status, row.decision) == ("decided", str(i01.pk))
    return run, q0, q1, i01, i12, row


def products() -> dict[int, str]:
    return dict(ProductMembership.objects.values_list("offer_id", "product__key"))


def test_the_overruled_decision_is_withdrawn_and_left_out_of_the_exports(overruled, tmp_path):
    run, q0, q1, i01, _, _ = overruled
    assert PairVerdict.objects.get(source="auto", query_offer=q0).superseded_by_id is not None
    d = Decision.objects.get(run=run, query_offer=q0)
    assert d.withdrawn_at is not None and d.source == "auto" and d.matched_offer_id == i01.pk
    assert "validators matched offers q1 and i0-1" in d.withdrawn_reason
    # the run's match export, the matches API and the products agree: q1 - i0-1 only
    pairs = {(m.query_pk, m.matched_pk) for m in accepted_matches(run=run)}
    assert pairs == {(q1.pk, i01.pk)}
    n, _ = write_export(run=run, path=tmp_path / "run.csv")
    text = (tmp_path / "run.csv").read_text()
    assert n == 1 and "\nq1,synth-query-1,i0-1," in text and "q0," not in text
    api = {(x.query_offer_id, x.matched_offer_id) for x in accepted_decisions(run_id=run.pk)}
    assert api == pairs
    keys = products()
    assert q0.pk not in keys and keys[q1.pk] == keys[i01.pk]
    kept, _ = one_to_one(accepted_matches(run=run))
    assert all(keys.get(m.query_pk) == keys.get(m.matched_pk) is not None for m in kept)
    buf = io.StringIO()
    write_products_csv(buf)
    assert "q0," not in buf.getvalue() and "q1," in buf.getvalue()


def test_the_matches_api_agrees_with_the_products(overruled, client):
    from api.services import create_token

    run = overruled[0]
    token = create_token(name="feed")[1]
    resp = client.get("/api/v1/matches/", {"run": run.pk}, HTTP_AUTHORIZATION=f"Token {token}")
    assert resp.status_code == 200
    rows = resp.json()["results"]
    assert [(r["query_offer_id"], r["matched_offer_id"], r["source"]) for r in rows] == [
        ("q1", "i0-1", "human")
    ]


def test_an_undo_restores_the_decision(overruled, validators, tmp_path):
    run, q0, _, i01, _, _ = overruled
    review_services.undo_last_judgement(validator=validators[1])
    d = Decision.objects.get(run=run, query_offer=q0)
    assert d.withdrawn_at is None and d.withdrawn_reason == ""
    assert {(m.query_pk, m.matched_pk) for m in accepted_matches(run=run)} == {(q0.pk, i01.pk)}
    keys = products()
    assert keys[q0.pk] == keys[i01.pk]


def test_a_rerun_does_not_reask_the_overruled_pair(overruled):
    run, q0, q1, i01, _, _ = overruled
    keys = products()
    second = rerun(run)
    summary = route_run(run=second, accept=0.9, review=0.5)
    # the pair q0 - i0-1 is an implicit rejection: not auto-accepted, no conflict row
    assert summary["n_conflict_rows_created"] == 0
    assert not ReviewRow.objects.filter(kind="conflict").exists()
    assert not Decision.objects.filter(run=second, query_offer=q0, matched_offer=i01).exists()
    assert summary["n_rejected_candidates_dropped"] >= 1
    # q0 is asked about its remaining candidate only (i0-2 at 0.5: the review band)
    row = ReviewRow.objects.get(run=second, query_offer=q0)
    assert i01.pk not in row.candidate_ids and row.candidate_ids
    # q1 is decided by the human verdict; products untouched
    d1 = Decision.objects.get(run=second, query_offer=q1)
    assert (d1.source, d1.matched_offer_id) == ("human", i01.pk)
    assert products() == keys
    # re-routing the first run does not undo the override either
    again = route_run(run=run, accept=0.9, review=0.5)
    assert again["n_conflict_rows_created"] == 0
    assert not Decision.objects.filter(run=run, query_offer=q0, matched_offer=i01).exists()
    assert PairVerdict.objects.get(source="auto", query_offer=q0).superseded_by_id is not None
    assert products() == keys


def test_withdrawal_rule():
    A = withdrawals.Acceptance
    over = A(run_id=1, superseded=True, overruling_pair=("q1", "i0-1"), overruling_row_id=9)
    assert withdrawals.withdrawal_reason(run_id=1, acceptances=[over]).startswith(
        "validators matched offers q1 and i0-1 (review row #9)"
    )
    # the run's own acceptance of the pair stands: kept
    assert withdrawals.withdrawal_reason(run_id=1, acceptances=[over, A(1, False)]) is None
    # a reused decision (run 2 has no acceptance of its own): stands on the other runs' ones
    assert withdrawals.withdrawal_reason(run_id=2, acceptances=[over]) is not None
    assert withdrawals.withdrawal_reason(run_id=2, acceptances=[over, A(3, False)]) is None
    # run 2 re-accepted the pair after the human verdict went stale: its decision stands
    assert withdrawals.withdrawal_reason(run_id=2, acceptances=[over, A(2, False)]) is None
    assert withdrawals.withdrawal_reason(run_id=1, acceptances=[]) is None


def q0_first(cfg):
    """Four synthetic queries, no gold: q0's top candidate i0-1 at 0.95, every other at 0.1."""
    cfg.gold_pool_size = 0
    cfg.save()
    run = create_synthetic_run(n_queries=4, seed=7)
    q0, q1 = offer(run, "query_shop", "q0"), offer(run, "query_shop", "q1")
    i01 = offer(run, "index_shop", "i0-1")
    Candidate.objects.filter(run=run).update(similarity=0.1)
    Candidate.objects.filter(run=run, query_offer=q0, rank=1).update(similarity=0.95)
    return run, q0, q1, i01


def test_a_reused_decision_is_withdrawn_too(cfg, validators):
    """Run 2 reused run 1's automatic q0 -> i0-1; validators overrule it afterwards."""
    run, q0, q1, i01 = q0_first(cfg)
    route_run(run=run, accept=0.9, review=0.5)
    second: MatchRun = rerun(run)
    route_run(run=second, accept=0.9, review=0.5)
    reused = Decision.objects.get(run=second, query_offer=q0)
    assert reused.matched_offer_id == i01.pk and reused.row_id is None
    # a review row of a third run asks about q1 with i0-1; validators accept it
    third = rerun(run)
    Candidate.objects.filter(run=third, query_offer=q1, rank=1).update(
        candidate_offer=i01, similarity=0.6
    )
    route_run(run=third, accept=0.9, review=0.5)
    judge(validators[0], choice=i01.pk)
    judge(validators[1], choice=i01.pk)
    for r in (run, second):
        assert Decision.objects.get(run=r, query_offer=q0).withdrawn_at is not None
        assert not [m for m in accepted_matches(run=r) if m.query_pk == q0.pk]


@pytest.fixture
def clash_in_one_run(cfg):
    """Run 1 auto-accepts q0 and q1 (one shop) to the same index offer i0-1: the second
    acceptance is held back as a product conflict, and routing puts its question in the same run
    as a conflict row (the query is i0-1, the offers shown q0 and q1)."""
    run, q0, q1, i01 = q0_first(cfg)
    Candidate.objects.filter(run=run, query_offer=q1, rank=1).update(
        candidate_offer=i01, similarity=0.93
    )
    Candidate.objects.filter(run=run, query_offer__in=[q0, q1], rank=2).update(similarity=0.55)
    summary = route_run(run=run, accept=0.9, review=0.5)
    assert summary["n_auto"] == 2 and summary["n_conflict_rows_created"] == 1
    row = ReviewRow.objects.get(run=run, kind="conflict")
    assert row.query_offer_id == i01.pk and set(row.candidate_ids) == {q0.pk, q1.pk}
    keys = products()
    held, lost = (q0, q1) if keys.get(q0.pk) == keys[i01.pk] else (q1, q0)
    assert keys.get(lost.pk) is None
    return run, held, lost, i01, row


def live_decisions(run) -> set[tuple[int, int | None]]:
    return set(
        Decision.objects.filter(run=run, withdrawn_at__isnull=True).values_list(
            "query_offer_id", "matched_offer_id"
        )
    )


@pytest.mark.parametrize("validators_choose", ["held", "lost"])
def test_a_conflict_row_decided_in_the_run_of_its_acceptances(
    clash_in_one_run, validators, validators_choose, tmp_path
):
    """Whichever offer validators keep with i0-1, the run's automatic decision for the other one
    is withdrawn: the run's live decisions, its match export and the products agree, and a
    re-run asks about the turned-down query again (it is not decided) without showing i0-1."""
    run, held, lost, i01, row = clash_in_one_run
    chosen, other = (held, lost) if validators_choose == "held" else (lost, held)
    judge_row(validators[0], row, chosen.pk)
    row = judge_row(validators[1], row, chosen.pk)
    assert (row.status, row.decision) == ("decided", str(chosen.pk))
    auto = PairVerdict.objects.get(source="auto", query_offer=other, candidate_offer=i01)
    assert auto.superseded_by_id is not None
    d = Decision.objects.get(run=run, query_offer=other)
    assert d.withdrawn_at is not None and d.matched_offer_id == i01.pk
    assert f"validators rejected this automatic match (review row #{row.pk})" in d.withdrawn_reason
    assert (chosen.pk, i01.pk) in live_decisions(run)
    assert other.pk not in {q for q, _ in live_decisions(run)}
    keys = products()
    assert keys[chosen.pk] == keys[i01.pk] and other.pk not in keys
    n, _ = write_export(run=run, path=tmp_path / "run.csv")
    text = (tmp_path / "run.csv").read_text()
    assert n == len(live_decisions(run) - {(q, None) for q, _ in live_decisions(run)})
    assert f"\n{chosen.offer_id}," in text and f"\n{other.offer_id}," not in text
    # the re-run: the decided query is left alone, the turned-down one is asked about the rest
    second = rerun(run)
    summary = route_run(run=second, accept=0.9, review=0.5)
    assert summary["n_conflict_rows_created"] == 0
    assert not ReviewRow.objects.filter(run=second, query_offer=chosen).exists()
    again = ReviewRow.objects.get(run=second, query_offer=other, kind="review")
    assert i01.pk not in again.candidate_ids
    assert products() == keys


def test_an_undo_of_the_conflict_row_restores_the_turned_down_decision(
    clash_in_one_run, validators
):
    run, held, lost, i01, row = clash_in_one_run
    judge_row(validators[0], row, held.pk)
    judge_row(validators[1], row, held.pk)
    assert Decision.objects.get(run=run, query_offer=lost).withdrawn_at is not None
    review_services.undo_last_judgement(validator=validators[1])
    d = Decision.objects.get(run=run, query_offer=lost)
    assert d.withdrawn_at is None and d.withdrawn_reason == ""
    auto = PairVerdict.objects.get(source="auto", query_offer=lost, candidate_offer=i01)
    assert auto.superseded_by_id is None
    conflict = ProductConflict.objects.get()
    assert conflict.status == "open" and ProductConflict.objects.count() == 1
