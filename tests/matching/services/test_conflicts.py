"""Human acceptances over automatic ones, and conflicts decided by validators (matching side)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from matching import loop_selectors
from matching import verdicts as vrules
from matching.models import (
    Offer,
    PairVerdict,
    ProductConflict,
    ProductEvent,
    ProductMembership,
    Shop,
)
from matching.services import conflicts, loop

pytestmark = pytest.mark.django_db


@pytest.fixture
def offers():
    """Offers a1, a2, a3 (shop a), b1, b2 (shop b), c1 (shop c): name -> Offer."""
    out = {}
    for name in ("a1", "a2", "a3", "b1", "b2", "c1"):
        shop, _ = Shop.objects.get_or_create(name=f"shop-{name[0]}")
        out[name] = Offer.objects.create(
            shop=shop, offer_id=name, title=name, text_normalised=name, content_hash=f"h-{name}"
        )
    return out


T0 = timezone.now() - timedelta(days=3)


def verdict(q, c, verdict=vrules.ACCEPTED, *, source=vrules.AUTO, minutes=0, run_id=None):
    (pv,) = loop.record_verdicts(
        verdicts=[
            vrules.NewVerdict(
                query_offer_id=q.pk, candidate_offer_id=c.pk, verdict=verdict, source=source
            )
        ],
        run_id=run_id,
        now=T0 + timedelta(minutes=minutes),
    )
    return pv


def key_of(offer) -> str | None:
    m = ProductMembership.objects.filter(offer=offer).select_related("product").first()
    return m.product.key if m else None


def test_a_human_accept_withdraws_the_conflicting_automatic_accept(offers):
    a1, a2, b1 = offers["a1"], offers["a2"], offers["b1"]
    auto = verdict(a1, b1)  # the model matched a1 -> b1 in an earlier run
    key = key_of(b1)
    assert key_of(a1) == key
    # validators review a2 and accept b1 (a1 and a2 are of one shop: b1 can match one only)
    (human_accept, _rejected_b2) = sorted(
        loop.record_review_decision(
            run_id=None,
            review_row_id=77,
            query_offer_id=a2.pk,
            shown=[b1.pk, offers["b2"].pk],
            choice=b1.pk,
            votes_for=2,
            votes_total=2,
            now=T0 + timedelta(minutes=5),
        ),
        key=lambda v: v.verdict,
    )
    assert human_accept.candidate_offer_id == b1.pk
    assert not ProductConflict.objects.exists()  # the human verdict wins: no conflict
    auto.refresh_from_db()
    assert auto.superseded_by_id == human_accept.pk and auto.superseded_at is not None
    # b1 keeps its product and key; a2 joined it, a1 left
    assert key_of(b1) == key and key_of(a2) == key and key_of(a1) is None
    shrunk = ProductEvent.objects.get(kind="shrunk", product__key=key)
    assert shrunk.verdict_id == human_accept.pk and shrunk.details["withdrawn"] == [auto.pk]
    assert "automatic acceptance" in shrunk.reason
    assert ProductEvent.objects.filter(kind="grown", product__key=key, verdict=human_accept)
    # the superseded automatic pair no longer decides a1: the next run asks about it again
    assert loop_selectors.decided_query_offers([a1.pk]) == set()

    # undo of the human decision: the automatic acceptance counts again and is re-applied
    loop.withdraw_review_decision(review_row_id=77, now=T0 + timedelta(minutes=6))
    auto.refresh_from_db()
    assert auto.superseded_by_id is None and auto.superseded_at is None
    assert key_of(a1) == key_of(b1) is not None and key_of(a2) is None
    assert loop_selectors.decided_query_offers([a1.pk]) == {a1.pk}


def test_a_human_accept_against_a_human_link_is_a_conflict_with_a_question(offers):
    a1, a2, b1 = offers["a1"], offers["a2"], offers["b1"]
    verdict(a1, b1, source=vrules.HUMAN)
    key = key_of(b1)
    pv = verdict(a2, b1, source=vrules.HUMAN, minutes=1)
    conflict = ProductConflict.objects.get()
    assert conflict.verdict_id == pv.pk and conflict.status == "open"
    assert conflict.query_offer_id == b1.pk and conflict.candidate_ids == sorted([a1.pk, a2.pk])
    assert key_of(a1) == key and key_of(a2) is None
    (q,) = loop_selectors.open_conflict_questions()
    assert (q.conflict_id, q.query_offer_id, q.candidate_ids) == (
        conflict.pk,
        b1.pk,
        tuple(sorted([a1.pk, a2.pk])),
    )
    assert loop_selectors.open_conflict_counts() == {"with_question": 1, "admin_only": 0}


def test_an_automatic_accept_against_a_human_link_is_a_conflict_not_an_override(offers):
    a1, a2, b1 = offers["a1"], offers["a2"], offers["b1"]
    verdict(a1, b1, source=vrules.HUMAN)
    verdict(a2, b1, minutes=1)  # auto
    assert ProductConflict.objects.get().query_offer_id == b1.pk
    assert not PairVerdict.objects.filter(superseded_by__isnull=False).exists()


def test_a_decided_conflict_moves_the_offer_and_the_anchor_keeps_its_key(offers):
    a1, a2, b1 = offers["a1"], offers["a2"], offers["b1"]
    verdict(a1, b1, source=vrules.HUMAN)
    key = key_of(b1)
    verdict(a2, b1, minutes=1)  # auto: conflict (b1: a1 or a2?)
    conflict = ProductConflict.objects.get()
    now = T0 + timedelta(minutes=10)
    rows = conflicts.resolve_conflict(
        conflict_id=conflict.pk,
        review_row_id=501,
        run_id=None,
        choice=a2.pk,
        votes_for=2,
        votes_total=2,
        now=now,
    )
    # each pair recorded the way it is stored (a as the query), so reuse finds it for a1, a2
    assert {(v.query_offer_id, v.candidate_offer_id, v.verdict) for v in rows} == {
        (a1.pk, b1.pk, "rejected"),
        (a2.pk, b1.pk, "accepted"),
    }
    assert {v.source for v in rows} == {"human"} and {v.votes_for for v in rows} == {2}
    conflict.refresh_from_db()
    assert (conflict.status, conflict.resolved_by_row_id) == ("resolved", 501)
    assert str(a2.pk) in conflict.resolution
    assert key_of(b1) == key and key_of(a2) == key and key_of(a1) is None
    kinds = list(
        ProductEvent.objects.filter(product__key=key, at=now).values_list("kind", flat=True)
    )
    assert sorted(kinds) == ["grown", "shrunk"]
    current = loop_selectors.current_verdicts_for_queries([a1.pk, a2.pk])
    assert current[(a1.pk, b1.pk)].verdict == "rejected"
    assert current[(a2.pk, b1.pk)].verdict == "accepted"
    assert current[(a2.pk, b1.pk)].source == "human"
    # the same decision again (a recompute) records nothing
    assert (
        conflicts.resolve_conflict(
            conflict_id=conflict.pk,
            review_row_id=501,
            run_id=None,
            choice=a2.pk,
            votes_for=2,
            votes_total=2,
        )
        == []
    )
    assert PairVerdict.objects.filter(review_row_id=501).count() == 2
    # an undo reopens the conflict and takes the row's verdicts back
    assert conflicts.reopen_conflict(conflict_id=conflict.pk, review_row_id=501) == 2
    conflict.refresh_from_db()
    assert conflict.status == "open" and conflict.resolved_by_row_id is None
    assert not PairVerdict.objects.filter(review_row_id=501).exists()


def test_a_conflict_decided_for_the_offer_already_in_keeps_everything(offers):
    a1, a2, b1 = offers["a1"], offers["a2"], offers["b1"]
    verdict(a1, b1, source=vrules.HUMAN)
    key = key_of(b1)
    verdict(a2, b1, minutes=1)
    conflict = ProductConflict.objects.get()
    conflicts.resolve_conflict(
        conflict_id=conflict.pk,
        review_row_id=502,
        run_id=None,
        choice=a1.pk,
        votes_for=2,
        votes_total=3,
    )
    assert key_of(b1) == key_of(a1) == key and key_of(a2) is None
    # the automatic pair a2-b1 is now rejected by humans: never auto-accepted again for a2
    current = loop_selectors.current_verdicts_for_queries([a2.pk])
    assert current[(a2.pk, b1.pk)].verdict == "rejected"


def test_a_conflict_decided_none_rejects_every_shown_offer(offers):
    a1, a2, b1 = offers["a1"], offers["a2"], offers["b1"]
    verdict(a1, b1, source=vrules.HUMAN)
    verdict(a2, b1, minutes=1)
    conflict = ProductConflict.objects.get()
    conflicts.resolve_conflict(
        conflict_id=conflict.pk,
        review_row_id=503,
        run_id=None,
        choice=None,
        votes_for=2,
        votes_total=2,
    )
    assert key_of(a1) is None and key_of(a2) is None and key_of(b1) is None
    assert ProductEvent.objects.filter(kind="shrunk").exists()


def test_a_conflict_refuses_an_offer_it_did_not_show(offers):
    verdict(offers["a1"], offers["b1"], source=vrules.HUMAN)
    verdict(offers["a2"], offers["b1"], minutes=1)
    conflict = ProductConflict.objects.get()
    with pytest.raises(conflicts.ConflictError, match="not among the shown"):
        conflicts.resolve_conflict(
            conflict_id=conflict.pk,
            review_row_id=504,
            run_id=None,
            choice=offers["a3"].pk,
            votes_for=2,
            votes_total=2,
        )
    conflict.refresh_from_db()
    assert conflict.status == "open" and not PairVerdict.objects.filter(review_row_id=504)


def _supersede(offers, *, run_id=None, row_id=78):
    """a1 auto-accepted to b1 (in ``run_id``), then validators accept a2 with b1 (row 78)."""
    auto = verdict(offers["a1"], offers["b1"], run_id=run_id)
    loop.record_review_decision(
        run_id=None,
        review_row_id=row_id,
        query_offer_id=offers["a2"].pk,
        shown=[offers["b1"].pk],
        choice=offers["b1"].pk,
        votes_for=2,
        votes_total=2,
        now=T0 + timedelta(minutes=5),
    )
    auto.refresh_from_db()
    assert auto.superseded_by_id is not None
    return auto


def test_the_next_run_does_not_reask_a_pair_a_human_accept_overruled(offers):
    a1, b1 = offers["a1"], offers["b1"]
    _supersede(offers)
    current = loop_selectors.current_verdicts_for_queries([a1.pk])
    implied = current[(a1.pk, b1.pk)]
    assert (implied.verdict, implied.source, implied.superseded) == ("rejected", "human", True)
    # b1 is dropped from a1's candidates (never auto-accepted again, never shown again) ...
    out = vrules.reuse(queries={a1.pk: [b1.pk, offers["b2"].pk]}, current=current)
    assert out.remaining == {a1.pk: [offers["b2"].pk]} and out.n_rejected_dropped == 1
    # ... but a1 is not decided: match --new-only still matches it
    assert loop_selectors.decided_query_offers([a1.pk]) == set()
    # products: the implicit rejection keeps a1 out of b1's product
    assert key_of(a1) is None and key_of(b1) == key_of(offers["a2"])

    # the human verdict goes stale (a2 was edited): the pair can be asked again
    Offer.objects.filter(pk=offers["a2"].pk).update(content_hash="h-a2-edited")
    assert loop_selectors.current_verdicts_for_queries([a1.pk]) == {}
    Offer.objects.filter(pk=offers["a2"].pk).update(content_hash="h-a2")
    assert loop_selectors.current_verdicts_for_queries([a1.pk])[(a1.pk, b1.pk)].verdict == (
        "rejected"
    )
    # the human verdict is withdrawn (undo): the acceptance counts again, the rejection is gone
    loop.withdraw_review_decision(review_row_id=78, now=T0 + timedelta(minutes=6))
    assert loop_selectors.current_verdicts_for_queries([a1.pk])[(a1.pk, b1.pk)].verdict == (
        "accepted"
    )
    assert key_of(a1) == key_of(b1) is not None


def test_rerouting_the_run_keeps_its_overruled_acceptance(offers):
    from matching.models import MatchRun

    a1, b1 = offers["a1"], offers["b1"]
    run = MatchRun.objects.create(
        status=MatchRun.Status.DONE, query_shop=a1.shop, index_shop=b1.shop, k=3
    )
    auto = _supersede(offers, run_id=run.pk)
    # the run's own verdicts are recomputed by its routing, but not the overruled one: it stays
    # an implicit rejection (re-routing never undoes a human override)
    facts = loop_selectors.verdicts_for_queries([a1.pk], exclude_auto_of_run=run.pk)
    assert [f.pk for f in facts] == [auto.pk]
    out = loop.replace_auto_verdicts(run_id=run.pk, accepted=[])
    assert out == {"added": 0, "withdrawn": 0, "kept": 0}
    auto.refresh_from_db()
    assert auto.superseded_by_id is not None
    assert key_of(a1) is None and key_of(b1) == key_of(offers["a2"])
