"""Product conflicts in the review queue: created when a run is routed, decided by validators."""

from __future__ import annotations

import pytest

from demo.synthetic_run import create_synthetic_run
from matching import verdicts as vrules
from matching.models import Offer, PairVerdict, ProductConflict, ProductEvent, ProductMembership
from matching.services import loop
from validation.models import Decision, ReviewRow
from validation.services.routing import route_run
from validation.simulation import simulate

from ..helpers import judge

pytestmark = pytest.mark.django_db


def offer(run, shop, offer_id) -> Offer:
    return Offer.objects.get(shop=getattr(run, shop), offer_id=offer_id)


def accept(q, c, *, source):
    return loop.record_verdicts(
        verdicts=[
            vrules.NewVerdict(
                query_offer_id=q.pk, candidate_offer_id=c.pk, verdict=vrules.ACCEPTED, source=source
            )
        ]
    )


def key_of(o) -> str | None:
    m = ProductMembership.objects.filter(offer=o).select_related("product").first()
    return m.product.key if m else None


@pytest.fixture
def conflicted(cfg):
    """A routed run with nothing to review, and one conflict: validators matched q0 with i0-1
    earlier; the model (another run) matched q1 with the same index offer."""
    cfg.gold_pool_size = 0
    cfg.save()
    run = create_synthetic_run(n_queries=6, seed=5)
    q0, q1 = offer(run, "query_shop", "q0"), offer(run, "query_shop", "q1")
    i01 = offer(run, "index_shop", "i0-1")
    accept(q0, i01, source=vrules.HUMAN)
    accept(q1, i01, source=vrules.AUTO)
    return run, q0, q1, i01


def test_routing_creates_one_conflict_row_per_conflict_and_rerouting_none(conflicted):
    run, q0, q1, i01 = conflicted
    conflict = ProductConflict.objects.get()
    summary = route_run(run=run, accept=2.0, review=1.5)  # nothing to review or accept
    assert summary["n_conflict_rows_created"] == 1 and summary["n_review"] == 0
    row = ReviewRow.objects.get(kind="conflict")
    assert row.conflict_id == conflict.pk and row.run_id == run.pk and row.status == "open"
    assert row.query_offer_id == i01.pk and row.candidate_ids == sorted([q0.pk, q1.pk])
    assert row.top1_similarity == 0.0 and row.judgements_needed == 2
    again = route_run(run=run, accept=2.0, review=1.5)
    assert again["n_conflict_rows_created"] == 0
    assert ReviewRow.objects.filter(kind="conflict").count() == 1


def test_a_decided_conflict_row_resolves_the_conflict_with_stable_keys(conflicted, validators):
    run, q0, q1, i01 = conflicted
    key = key_of(i01)
    route_run(run=run, accept=2.0, review=1.5)
    row = ReviewRow.objects.get(kind="conflict")
    # two validators agree that q1 is i0-1's product (early decision: two agreeing judgements)
    assert judge(validators[0], choice=q1.pk).pk == row.pk
    row = judge(validators[1], choice=q1.pk)
    assert (row.status, row.decision, row.votes_for) == ("decided", str(q1.pk), 2)
    conflict = ProductConflict.objects.get()
    assert (conflict.status, conflict.resolved_by_row_id) == ("resolved", row.pk)
    assert key_of(i01) == key and key_of(q1) == key and key_of(q0) is None
    human = PairVerdict.objects.filter(review_row_id=row.pk, source="human")
    assert set(human.values_list("query_offer_id", "candidate_offer_id", "verdict")) == {
        (q1.pk, i01.pk, "accepted"),
        (q0.pk, i01.pk, "rejected"),
    }
    assert ProductEvent.objects.filter(product__key=key, kind="grown", verdict__in=human)
    assert not Decision.objects.filter(row=row).exists()  # no run decision from a conflict row
    # re-routing: nothing new, the decided row stays
    summary = route_run(run=run, accept=2.0, review=1.5)
    assert summary["n_conflict_rows_created"] == 0 and summary["n_conflict_rows_closed"] == 0
    assert ReviewRow.objects.get(kind="conflict").status == "decided"


def test_an_undo_reopens_the_conflict_and_the_row(conflicted, validators):
    from validation.services import review as review_services

    run, q0, q1, i01 = conflicted
    route_run(run=run, accept=2.0, review=1.5)
    judge(validators[0], choice=q1.pk)
    judge(validators[1], choice=q1.pk)
    assert key_of(q1) is not None
    review_services.undo_last_judgement(validator=validators[1])
    row = ReviewRow.objects.get(kind="conflict")
    assert row.status == "open"
    assert ProductConflict.objects.get().status == "open"
    assert key_of(q1) is None and key_of(q0) == key_of(i01) is not None


def test_a_withdrawn_conflict_closes_its_open_row(conflicted):
    run = conflicted[0]
    route_run(run=run, accept=2.0, review=1.5)
    PairVerdict.objects.filter(source="auto").delete()  # the conflicting verdict is gone
    summary = route_run(run=run, accept=2.0, review=1.5)
    assert summary["n_conflict_rows_closed"] == 1
    assert ReviewRow.objects.get(kind="conflict").status == "closed"


def test_simulated_validators_decide_conflict_rows_from_the_truth(conflicted):
    run = conflicted[0]
    route_run(run=run, accept=2.0, review=1.5)
    row = ReviewRow.objects.get(kind="conflict")
    # the synthetic catalogue knows whether i0-1 is q0's product: the row has a truth
    assert row.truth in ("match", "none")
    simulate(run=run, validators=3, tpr=1.0, fpr=0.0, seed=0)
    row.refresh_from_db()
    assert row.status == "decided"
    expected = str(row.truth_offer_id) if row.truth == "match" else "none"
    assert row.decision == expected
    assert ProductConflict.objects.get().status == "resolved"
