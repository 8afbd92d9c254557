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
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from matching.models import MatchRun, Offer, OfferImage
from tests.validation.helpers import on_page
from validation.assignment import LeasePolicy
from validation.models import Judgement, ReviewLease, ReviewRow, ReviewSkip
from validation.selectors.review import slot_order_for
from validation.services import leasing
from validation.services import review as services
from validation.services.routing import route_run

GOLD_FIRST = LeasePolicy(gold_rate=1.0)


@pytest.fixture
def routed(run):
    route_run(run=run, accept=0.8, review=0.5)
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
        lease = leasing.lease_next_row(validator=validator, policy=GOLD_FIRST)
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
    assert not on_page(truth.offer_id, html) and not on_page(truth.product_id, html)
    assert "Correct answer" not in html
    # nothing counted yet: the count of right answers would give the answer away too
    assert "right 0 times" not in html and "right 1 times" not in html
    assert Judgement.objects.get(row=row, validator=v).revealed_at is None
    # undo still works, since nothing was shown
    resp = client.post(reverse("validation:undo"), follow=True)
    assert "was undone" in resp.content.decode()


# --------------------------------------------------------------------------- helpers: time, others


def let_time_pass(seconds: float) -> None:
    """Move every judgement back in time (as if `seconds` had passed)."""
    Judgement.objects.update(created_at=F("created_at") - timedelta(seconds=seconds))


def slot_of(row: ReviewRow, validator, offer_id) -> int:
    order = slot_order_for(row=row, validator_id=validator.pk)
    return next(
        s for s, i in enumerate(order, start=1) if str(row.candidate_ids[i]) == str(offer_id)
    )


def judge_directly(row: ReviewRow, validator, *, offer_id=None) -> Judgement:
    """Another validator judges this very row (a lease on it, then the service)."""
    now = timezone.now()
    lease = ReviewLease.objects.create(
        row=row, validator=validator, leased_at=now, expires_at=now + timedelta(minutes=10)
    )
    slot = 0 if offer_id is None else slot_of(row, validator, offer_id)
    return services.judge_row(validator=validator, lease_id=lease.pk, slot=slot)


def judge_zero_over_http(client, validator) -> ReviewRow:
    lease = lease_gold_match_row(validator)
    client.get(reverse("validation:review"))
    client.post(reverse("validation:judge"), {"lease": lease.pk, "slot": 0})
    return lease.row


def same_query_elsewhere(row: ReviewRow, **extra) -> ReviewRow:
    """The same query as a gold row of another run (a later match run over the same shops)."""
    run2 = MatchRun.objects.get(pk=row.run_id)
    run2.pk = None
    run2.save()
    return ReviewRow.objects.create(
        run=run2,
        query_offer_id=row.query_offer_id,
        candidate_ids=row.candidate_ids,
        top1_similarity=row.top1_similarity,
        kind=ReviewRow.Kind.GOLD,
        truth=row.truth,
        truth_offer_id=row.truth_offer_id,
        **extra,
    )


def answer_in(html: str, row: ReviewRow) -> bool:
    return any(u in html for u in image_urls(row.truth_offer_id))


# --------------------------------------------------------------------------- later: shown, no undo


def test_mistake_appears_once_final_and_then_cannot_be_undone(client, routed, validators, cfg):
    v, others = validators[0], validators[1:3]
    client.force_login(v)
    row = judge_zero_over_http(client, v)
    for o in others:
        judge_directly(row, o, offer_id=row.truth_offer_id)
    row.refresh_from_db()
    assert row.status == ReviewRow.Status.DECIDED
    # inside the undo window: still hidden, even though the row is decided
    assert not answer_in(client.get(reverse("validation:feedback")).content.decode(), row)
    let_time_pass(cfg.undo_seconds + 1)
    html = client.get(reverse("validation:feedback")).content.decode()
    assert answer_in(html, row)
    assert "Correct answer" in html and "You said none matches" in html
    assert "right 0 times" in html
    assert "undo window" in html  # the rule is explained on the page
    j = Judgement.objects.get(row=row, validator=v)
    assert j.revealed_at is not None
    # an admin lengthens the undo window: the shown judgement still cannot be undone
    cfg.undo_seconds = 100_000
    cfg.save()
    page = client.get(reverse("validation:review")).content.decode()
    assert re.search(r'id="undo-form">.*?<button[^>]*disabled', page, re.S)
    resp = client.post(reverse("validation:undo"), follow=True).content.decode()
    assert "can no longer be undone" in resp and "shown" in resp
    j.refresh_from_db()
    assert j.undone_at is None and j.choice == "none"
    assert not ReviewLease.objects.filter(validator=v, row=row).exists()


def test_feedback_unchanged_by_gold_or_not_while_pending(client, routed, validators):
    """Right after a judgement the page says the same for a gold and for a review row."""
    pages = []
    for v, policy in ((validators[0], GOLD_FIRST), (validators[1], LeasePolicy(gold_rate=0.0))):
        lease = leasing.lease_next_row(validator=v, policy=policy)
        services.judge_row(validator=v, lease_id=lease.pk, slot=0)
        client.force_login(v)
        html = client.get(reverse("validation:feedback")).content.decode()
        pages.append(html[html.index("<h1>Your feedback") :])
    assert Judgement.objects.get(validator=validators[0]).row.kind == ReviewRow.Kind.GOLD
    assert Judgement.objects.get(validator=validators[1]).row.kind == ReviewRow.Kind.REVIEW
    assert pages[0] == pages[1]
    assert "1 of your judgements are not final yet" in pages[0]


# --------------------------------------------------------------------------- gold across runs


def test_gold_answer_hidden_while_the_same_query_can_still_come_to_them(
    client, routed, validators, cfg
):
    v = validators[0]
    client.force_login(v)
    row = judge_zero_over_http(client, v)
    other = same_query_elsewhere(row)  # open, not judged by v
    let_time_pass(cfg.undo_seconds + 1)
    html = client.get(reverse("validation:feedback")).content.decode()
    assert not answer_in(html, row)
    assert Judgement.objects.get(row=row, validator=v).revealed_at is None
    # the other row is closed (left the review band): a later routing may reopen it
    other.status = ReviewRow.Status.CLOSED
    other.save()
    assert not answer_in(client.get(reverse("validation:feedback")).content.decode(), row)
    # v judges the other row too; while that vote can be undone both answers stay hidden
    other.status = ReviewRow.Status.OPEN
    other.save()
    judge_directly(other, v)
    assert not answer_in(client.get(reverse("validation:feedback")).content.decode(), row)
    let_time_pass(cfg.undo_seconds + 1)
    html = client.get(reverse("validation:feedback")).content.decode()
    assert answer_in(html, row)
    assert "right 0 times" in html  # both rows now count, both wrong
    assert html.count("Correct answer") == 2


def test_skipped_related_row_does_not_hold_back_feedback(client, routed, validators, cfg):
    v = validators[0]
    client.force_login(v)
    row = judge_zero_over_http(client, v)
    other = same_query_elsewhere(row)
    ReviewSkip.objects.create(row=other, validator=v)
    let_time_pass(cfg.undo_seconds + 1)
    assert answer_in(client.get(reverse("validation:feedback")).content.decode(), row)


def test_row_about_a_shown_answer_is_never_leased_to_them(client, routed, validators, cfg):
    v = validators[0]
    client.force_login(v)
    row = judge_zero_over_http(client, v)
    let_time_pass(cfg.undo_seconds + 1)
    assert answer_in(client.get(reverse("validation:feedback")).content.decode(), row)
    # a later run brings the same query back as a gold row (and, reversed, its true match)
    again = same_query_elsewhere(row)
    reverse_row = same_query_elsewhere(row)
    reverse_row.query_offer_id, reverse_row.truth_offer_id = row.truth_offer_id, row.query_offer_id
    reverse_row.save()
    ReviewRow.objects.exclude(pk__in=[again.pk, reverse_row.pk]).update(
        status=ReviewRow.Status.DECIDED
    )
    ReviewLease.objects.all().delete()
    assert leasing.lease_next_row(validator=v, policy=GOLD_FIRST) is None
    assert "Nothing to review" in client.get(reverse("validation:review")).content.decode()
    # another validator does get them
    got = {leasing.lease_next_row(validator=validators[1], policy=GOLD_FIRST).row_id}
    services.skip_row(
        validator=validators[1], lease_id=ReviewLease.objects.get(validator=validators[1]).pk
    )
    got.add(leasing.lease_next_row(validator=validators[1], policy=GOLD_FIRST).row_id)
    assert got == {again.pk, reverse_row.pk}


# --------------------------------------------------------------------------- the review page


def test_review_page_source_gives_nothing_away(client, routed, validators):
    """Attributes, URLs and order of a gold row's page carry no ids, ranks or the answer."""
    v = validators[0]
    client.force_login(v)
    lease = lease_gold_match_row(v)
    row = lease.row
    html = client.get(reverse("validation:review")).content.decode()
    # the only data attributes: the lease, the slot keys and the zoom images
    assert set(re.findall(r"\b(data-[a-z-]+)=", html)) == {"data-lease", "data-key", "data-zoom"}
    assert set(re.findall(r'data-key="([^"]*)"', html)) == {"1", "2", "3"}
    offers = Offer.objects.in_bulk([row.query_offer_id, *row.candidate_ids])
    for o in offers.values():
        assert f"/{o.pk}/" not in html and f"={o.pk}" not in html
    # image URLs are the meaningless stored names, in slot (not rank) order
    shown = [urls[0] for _, urls in sorted(slots_on_page(html).items())]
    order = slot_order_for(row=row, validator_id=v.pk)
    assert shown == [image_urls(row.candidate_ids[i])[0] for i in order]


def test_stored_image_names_carry_no_offer_or_product_id(tmp_path, settings, db):
    from PIL import Image

    from matching.catalogue_import import import_catalogue

    settings.MEDIA_ROOT = tmp_path / "media"
    folder = tmp_path / "cat"
    (folder / "img").mkdir(parents=True)
    Image.new("RGB", (60, 80), (200, 10, 10)).save(folder / "img" / "PRODX777_offerq1.jpg")
    (folder / "offers.csv").write_text(
        "offer_id,shop,brand,title,price,currency,sizes,category,created_at,product_id,images\n"
        "offerq1,alpha,Acme,Shirt,,,,,,PRODX777,img/PRODX777_offerq1.jpg\n"
    )
    import_catalogue(directory=folder)
    im = OfferImage.objects.get()
    for url in (im.preprocessed.url, im.original.url):
        assert "PRODX777" not in url and "offerq1" not in url
        assert re.fullmatch(r"/media/offers/[\w/]+/[0-9a-f]{64}\.jpg", url)
