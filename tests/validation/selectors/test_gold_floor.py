"""Which verdicts may train a model: decided rows, human verdicts, the gold-accuracy floor."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from matching import verdicts as vrules
from matching.models import Offer
from matching.services import features as feature_rows
from matching.services import loop as loop_service
from matching.services import training_labels
from validation.models import Judgement, ReviewRow
from validation.selectors.gold_floor import gold_accuracy_by_validator, trusted_review_rows

from ..conftest import make_user

pytestmark = pytest.mark.django_db


def _row(run, query, candidates, *, kind="review", status="decided", truth="unknown", answer=None):
    return ReviewRow.objects.create(
        run=run,
        query_offer=query,
        candidate_ids=[c.pk for c in candidates],
        top1_similarity=0.9,
        kind=kind,
        status=status,
        truth=truth,
        truth_offer=answer,
    )


def _judge(row, user, choice):
    return Judgement.objects.create(
        row=row,
        validator=user,
        choice=str(choice),
        slot=1,
        created_at=timezone.now(),
        seconds_spent=3.0,
    )


@pytest.fixture
def judged(run):
    """ann: 2/2 right on gold rows; bob: 1/2; cid: no gold row. Review rows: `solo` judged by
    ann, `pair` by ann and bob, `cid` by cid, `open` (undecided) by ann."""
    ann, bob, cid = make_user("ann"), make_user("bob"), make_user("cid")
    q = list(Offer.objects.filter(shop=run.query_shop).order_by("pk"))
    ix = list(Offer.objects.filter(shop=run.index_shop).order_by("pk"))
    g1 = _row(run, q[0], ix[:2], kind="gold", truth="match", answer=ix[0])
    g2 = _row(run, q[1], ix[2:4], kind="gold", truth="none")
    _judge(g1, ann, ix[0].pk)
    _judge(g2, ann, "none")
    _judge(g1, bob, ix[0].pk)
    _judge(g2, bob, ix[2].pk)  # wrong
    undone = _judge(g2, cid, "none")
    undone.undone_at = timezone.now()
    undone.save()
    rows = {
        "solo": _row(run, q[2], ix[4:6]),
        "pair": _row(run, q[3], ix[6:8]),
        "cid": _row(run, q[4], ix[8:10]),
        "open": _row(run, q[5], ix[10:12], status="open"),
    }
    _judge(rows["solo"], ann, "none")
    _judge(rows["pair"], ann, "none")
    _judge(rows["pair"], bob, "none")
    _judge(rows["cid"], cid, "none")
    _judge(rows["open"], ann, "none")
    return rows, (ann, bob, cid), q, ix


def test_gold_accuracy_and_the_rows_that_meet_a_floor(judged):
    rows, (ann, bob, _cid), _, _ = judged
    assert gold_accuracy_by_validator() == {ann.pk: (2, 2), bob.pk: (1, 2)}
    assert trusted_review_rows(0.9) == {rows["solo"].pk}
    assert trusted_review_rows(0.5) == {rows["solo"].pk, rows["pair"].pk}
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        trusted_review_rows(2.0)
    # the validation app registered the guard that matching's training asks
    assert training_labels.trusted_review_rows(min_gold_accuracy=0.9) == {rows["solo"].pk}


def test_only_current_human_verdicts_of_allowed_rows_become_labels(judged):
    rows, _, q, ix = judged
    run = rows["solo"].run

    def review(row, query, shown, choice, *, now):
        loop_service.record_review_decision(
            run_id=run.pk, review_row_id=row.pk, query_offer_id=query.pk,
            shown=[o.pk for o in shown], choice=choice.pk if choice else None,
            votes_for=2, votes_total=3, now=now,
        )  # fmt: skip

    t0 = timezone.now() - timedelta(hours=1)
    review(rows["solo"], q[2], ix[4:6], ix[4], now=t0)  # accept q2~i4, reject q2~i5
    review(rows["pair"], q[3], ix[6:8], ix[6], now=t0)  # accept q3~i6, reject q3~i7
    review(rows["cid"], q[4], ix[8:10], None, now=t0)  # reject both
    # a later human decision rejects q3~i6: the pair's current verdict is the rejection
    loop_service.record_verdicts(
        verdicts=[vrules.NewVerdict(q[3].pk, ix[6].pk, vrules.REJECTED, vrules.HUMAN)],
        review_row_id=rows["pair"].pk,
        now=t0 + timedelta(minutes=5),
    )
    # an automatic acceptance never trains
    loop_service.replace_auto_verdicts(run_id=run.pk, accepted=[(q[6].pk, ix[12].pk, 0.99)])

    offers = feature_rows.offer_rows(
        Offer.objects.filter(shop__in=[run.query_shop, run.index_shop])
    )
    pos = {o.pk: i for i, o in enumerate(offers)}
    every = training_labels.load_labels(offers=offers, sources=["verdicts"])
    r = every.report
    assert (r["accepted_pairs"], r["verdicts_auto_skipped"], r["product_id_offers"]) == (1, 1, 0)
    assert r["rejected_pairs"] == 5  # q2~i5, q3~i6, q3~i7, q4~i8, q4~i9
    assert r["cluster_offers"] == 2  # q2 and i4 in one product (human)
    groups = every.labels.groups
    assert groups[pos[q[2].pk]] == groups[pos[ix[4].pk]] is not None
    assert groups[pos[q[3].pk]] is None
    assert every.labels.hard_negatives[pos[q[3].pk]] == tuple(
        sorted((pos[ix[6].pk], pos[ix[7].pk]))
    )
    # a query decided "no match" is known (a calibration query); an unjudged offer is not
    assert every.known[pos[q[4].pk]] and not every.known[pos[q[7].pk]]

    floor = training_labels.load_labels(
        offers=offers, sources=["verdicts"], min_gold_accuracy=0.9
    ).report
    assert (floor["accepted_pairs"], floor["rejected_pairs"]) == (1, 1)  # solo only
    assert floor["verdicts_below_gold_floor"] == 4 and floor["min_gold_accuracy"] == 0.9
    both = training_labels.load_labels(offers=offers, sources="product_ids,verdicts").report
    assert both["product_id_offers"] > 0 and both["groups"] > r["groups"]

    with pytest.raises(ValueError, match="no training labels"):
        training_labels.load_labels(offers=offers, sources=["verdicts"], allowed_review_rows=[])
