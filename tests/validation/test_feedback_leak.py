"""The feedback page must not give away an answer the validator can still act on (issue 7.1).

The attack of the outside probe, end to end over HTTP: judge a row with 0, open the feedback
page, read the correct answer's images, undo, get the same row back and choose the slot whose
images match.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from matching.models import Offer, OfferImage
from validation import services
from validation.assignment import LeasePolicy
from validation.models import Judgement, ReviewLease, ReviewRow

GOLD_FIRST = LeasePolicy(gold_rate=1.0)


@pytest.fixture
def routed(run):
    services.route_run(run=run, accept=0.8, review=0.5)
    # every offer gets one photo with a unique, meaningless file name, so the pages can be
    # searched for the image URLs of a particular offer
    OfferImage.objects.bulk_create(
        [
            OfferImage(
                offer=o,
                position=0,
                source_path=f"{o.pk}.jpg",
                original=f"offers/original/t/{uuid.uuid4().hex}.jpg",
                preprocessed=f"offers/254x367/t/{uuid.uuid4().hex}.jpg",
                checksum=uuid.uuid4().hex * 2,
                width=254,
                height=367,
            )
            for o in Offer.objects.filter(shop__in=[run.query_shop, run.index_shop])
        ]
    )
    return run


def image_urls(offer_id: int) -> list[str]:
    urls = []
    for im in OfferImage.objects.filter(offer_id=offer_id):
        urls += [im.preprocessed.url, im.original.url]
    return urls


def slots_on_page(html: str) -> dict[int, list[str]]:
    """slot key -> the image URLs shown in that slot of the review page."""
    out = {}
    for key, body in re.findall(
        r'<article class="offer candidate" data-key="(\d)">(.*?)</article>', html, re.S
    ):
        out[int(key)] = re.findall(r'(?:src|data-zoom)="([^"]+)"', body)
    return out


def lease_gold_match_row(validator) -> ReviewLease:
    """Lease the validator a gold row whose answer is a candidate (skipping others)."""
    for _ in range(200):
        lease = services.lease_next_row(validator=validator, policy=GOLD_FIRST)
        assert lease is not None, "ran out of gold rows"
        row = lease.row
        if row.kind == ReviewRow.Kind.GOLD and row.truth == ReviewRow.Truth.MATCH:
            return lease
        services.skip_row(validator=validator, lease_id=lease.pk)
    raise AssertionError("no gold row with a matching candidate")


def attack(client, validator) -> tuple[ReviewRow, int | None]:
    """One round of the probe's attack; returns the row and the slot it learnt (or None)."""
    lease = lease_gold_match_row(validator)
    row = lease.row
    slots = slots_on_page(client.get(reverse("validation:review")).content.decode())
    assert len(slots) == len(row.candidate_ids)
    client.post(reverse("validation:judge"), {"lease": lease.pk, "slot": 0})
    feedback = client.get(reverse("validation:feedback")).content.decode()
    learnt = [k for k, urls in slots.items() if any(u in feedback for u in urls)]
    client.post(reverse("validation:undo"))
    again = ReviewLease.objects.filter(validator=validator, row=row).first()
    if again is None:  # undo refused: the 0 stands
        return row, None
    client.get(reverse("validation:review"))
    slot = learnt[0] if learnt else 0
    client.post(reverse("validation:judge"), {"lease": again.pk, "slot": slot})
    return row, (learnt[0] if learnt else None)


def test_feedback_then_undo_flips_no_vote(client, routed, validators):
    """The probe's attack: six rows, judge 0, read feedback, undo, choose the right slot."""
    v = validators[0]
    client.force_login(v)
    rows = []
    for _ in range(6):
        row, learnt = attack(client, v)
        assert learnt is None, "the feedback page showed the answer of a row that can be re-cast"
        rows.append(row)
    # every vote is still the 0 the validator first cast
    for row in rows:
        j = Judgement.objects.get(row=row, validator=v, undone_at__isnull=True)
        assert j.choice == "none"
        assert j.choice != str(row.truth_offer_id)


def test_feedback_hides_answer_while_undo_is_possible(client, routed, validators):
    v = validators[0]
    client.force_login(v)
    lease = lease_gold_match_row(v)
    row = lease.row
    client.get(reverse("validation:review"))
    client.post(reverse("validation:judge"), {"lease": lease.pk, "slot": 0})
    html = client.get(reverse("validation:feedback")).content.decode()
    for url in image_urls(row.truth_offer_id):
        assert url not in html
    truth = Offer.objects.get(pk=row.truth_offer_id)
    assert truth.offer_id not in html and truth.product_id not in html
    assert "Correct answer" not in html
    # nothing counted yet: the count of right answers would give the answer away too
    assert "right 0 times" not in html and "right 1 times" not in html
    assert Judgement.objects.get(row=row, validator=v).revealed_at is None
    # undo still works, since nothing was shown
    resp = client.post(reverse("validation:undo"), follow=True)
    assert "was undone" in resp.content.decode()
