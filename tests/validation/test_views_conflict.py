"""A conflict row on the review page: the validator sees the offers, never the answer."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from demo.synthetic_run import create_synthetic_run
from matching import verdicts as vrules
from matching.models import Offer, PairVerdict, ProductConflict
from matching.services import loop
from tests.validation.helpers import on_page
from validation.models import Judgement, ReviewLease, ReviewRow
from validation.selectors.review import slot_order_for
from validation.services.routing import route_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def conflict_row(cfg):
    cfg.gold_pool_size = 0
    cfg.save()
    run = create_synthetic_run(n_queries=4, seed=7)
    q0 = Offer.objects.get(shop=run.query_shop, offer_id="q0")
    q1 = Offer.objects.get(shop=run.query_shop, offer_id="q1")
    i01 = Offer.objects.get(shop=run.index_shop, offer_id="i0-1")
    for q, source in ((q0, vrules.HUMAN), (q1, vrules.AUTO)):
        loop.record_verdicts(
            verdicts=[
                vrules.NewVerdict(
                    query_offer_id=q.pk,
                    candidate_offer_id=i01.pk,
                    verdict=vrules.ACCEPTED,
                    source=source,
                    similarity=0.987654,
                )
            ]
        )
    route_run(run=run, accept=2.0, review=1.5)
    return ReviewRow.objects.get(kind="conflict"), q0, q1, i01


def slot_of(row, user, offer_pk) -> int:
    order = slot_order_for(row=row, validator_id=user.pk)
    return order.index(row.candidate_ids.index(offer_pk)) + 1


def test_conflict_row_renders_without_leaking_the_answer(client, conflict_row, validators):
    row, q0, q1, i01 = conflict_row
    client.force_login(validators[0])
    html = client.get(reverse("validation:review")).content.decode()
    lease = ReviewLease.objects.get(validator=validators[0])
    assert lease.row_id == row.pk  # conflict rows come first in the queue
    assert f'name="lease" value="{lease.pk}"' in html
    assert "at most one of them can be the same product" in html
    for o in (q0, q1, i01):
        assert o.title in html  # the query offer and both competing offers are shown
        assert not on_page(o.offer_id, html.replace(o.title, ""))
        assert not on_page(o.product_id, html)
    # nothing says which pair was accepted automatically or by people, or with what score
    conflict = ProductConflict.objects.get()
    low = html.lower()
    for secret in ("auto", "human", "similarity", "0.98", "conflict #", conflict.reason[:30]):
        assert secret.lower() not in low, secret
    for key in PairVerdict.objects.values_list("query_offer_id", flat=True):
        assert f"offer {key}" not in low
    assert sorted(re.findall(r'name="slot" value="(\d)"', html)) == ["0", "1", "2"]
    # and the queue order of the candidates is a per-validator shuffle of offers by pk
    assert row.candidate_ids == sorted(row.candidate_ids)


def test_conflict_row_is_judged_by_keys_and_decided_like_a_review_row(
    client, conflict_row, validators
):
    row, q0 = conflict_row[:2]
    for v in validators[:2]:
        client.force_login(v)
        client.get(reverse("validation:review"))
        lease = ReviewLease.objects.get(validator=v, row=row)
        resp = client.post(
            reverse("validation:judge"), {"lease": lease.pk, "slot": slot_of(row, v, q0.pk)}
        )
        assert resp.status_code == 302
    row.refresh_from_db()
    assert Judgement.objects.filter(row=row).count() == 2
    assert (row.status, row.decision) == ("decided", str(q0.pk))
    conflict = ProductConflict.objects.get()
    assert conflict.status == "resolved" and conflict.resolved_by_row_id == row.pk
