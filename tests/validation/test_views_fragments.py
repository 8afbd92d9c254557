"""The review panel for the page's script (htmx, HX-Request header): judge, skip and undo answer
with the next row's panel in one round-trip; /review/next/ prefetches the row after it. Without
the header the form POST + redirect flow is unchanged."""

from __future__ import annotations

import re
import uuid

import pytest
from django.urls import reverse

from matching.models import Offer, OfferImage
from tests.validation.helpers import on_page
from validation.models import Judgement, ReviewLease, ReviewRow
from validation.selectors.review import slot_order_for
from validation.services import leasing
from validation.services.routing import route_run

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def routed(run):
    route_run(run=run, accept=0.8, review=0.5)
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


def _lease_on_page(html: str) -> int:
    return int(re.search(r'id="review" data-lease="(\d+)"', html).group(1))


def _fragment(resp) -> str:
    assert resp.status_code == 200
    html = resp.content.decode()
    assert "<html" not in html and "<body" not in html  # the panel only
    assert html.lstrip().startswith('<div class="review" id="review"')
    assert "no-cache" in resp["Cache-Control"] or "no-store" in resp["Cache-Control"]
    return html


def test_judge_answers_the_next_panel_to_htmx_and_redirects_without(client, routed, validators):
    v = validators[0]
    client.force_login(v)
    page = client.get(reverse("validation:review")).content.decode()
    first = _lease_on_page(page)
    assert 'hx-post="/review/judge/"' in page and "vendor/htmx.min.js" in page
    html = _fragment(client.post(reverse("validation:judge"), {"lease": first, "slot": 2}, **HX))
    assert Judgement.objects.get(validator=v).slot == 2
    second = _lease_on_page(html)
    assert second != first
    assert ReviewLease.objects.get(pk=second).validator == v
    assert 'Today: <strong id="today">1</strong>' in html
    undo_form = re.search(r'id="undo-form">(.*?)</form>', html, re.S).group(1)
    assert "<button" in undo_form and "disabled" not in undo_form  # undo is possible now
    # the same POST without the header: unchanged (302 to the review page)
    resp = client.post(reverse("validation:judge"), {"lease": second, "slot": 0})
    assert resp.status_code == 302 and resp["Location"] == reverse("validation:review")
    assert Judgement.objects.filter(validator=v).count() == 2


def test_refused_judgement_shows_its_message_in_the_panel(client, routed, validators):
    leasing.lease_next_row(validator=validators[1])
    other = ReviewLease.objects.get(validator=validators[1])
    client.force_login(validators[0])
    html = _fragment(client.post(reverse("validation:judge"), {"lease": other.pk, "slot": 1}, **HX))
    assert re.search(r'<ul class="messages"><li class="error">[^<]*not leased to you', html)
    assert not Judgement.objects.exists()
    html = _fragment(client.post(reverse("validation:judge"), {"lease": "x", "slot": 1}, **HX))
    assert "Invalid judgement." in html
    # a message is shown once: the next panel has none
    assert "messages" not in _fragment(client.get(reverse("validation:review"), **HX))


def test_skip_and_undo_answer_panels(client, routed, validators):
    v = validators[0]
    client.force_login(v)
    first = _lease_on_page(client.get(reverse("validation:review")).content.decode())
    row = ReviewLease.objects.get(pk=first).row_id
    html = _fragment(client.post(reverse("validation:skip"), {"lease": first}, **HX))
    assert ReviewLease.objects.get(pk=_lease_on_page(html)).row_id != row
    judged = ReviewLease.objects.get(pk=_lease_on_page(html)).row_id
    client.post(reverse("validation:judge"), {"lease": _lease_on_page(html), "slot": 1}, **HX)
    html = _fragment(client.post(reverse("validation:undo"), **HX))
    assert "Your last judgement was undone" in html
    assert ReviewLease.objects.get(pk=_lease_on_page(html)).row_id == judged
    assert 'Today: <strong id="today">0</strong>' in html


def test_prefetch_leases_the_next_row_and_lists_its_images_only(client, routed, validators):
    v = validators[0]
    client.force_login(v)
    first = _lease_on_page(client.get(reverse("validation:review")).content.decode())
    resp = client.get(reverse("validation:prefetch"), **HX)
    assert resp.status_code == 200 and "no-cache" in resp["Cache-Control"]
    html = resp.content.decode()
    nxt = ReviewLease.objects.filter(validator=v).exclude(pk=first).get()
    row = nxt.row
    # the next panel (inert, in a <template>) and its images to fetch, nothing else
    template = r'<template class="next-panel" hx-disable>(.*)</template>(.*)'
    panel = re.fullmatch(template, html.strip(), re.S)
    assert panel is not None
    panel, imgs = panel.groups()
    assert _lease_on_page(panel) == nxt.pk
    assert 'Today: <strong id="today">1</strong>' in panel  # as it will be after the judgement
    assert set(re.findall(r"\b(data-[a-z-]+)=", panel)) == {"data-lease", "data-key", "data-zoom"}
    # the images: candidates in this validator's slot order (not rank order)
    srcs = re.findall(r'<img src="([^"]+)" alt="" class="prefetched">', imgs)
    assert re.sub(r'<img src="[^"]+" alt="" class="prefetched">', "", imgs).strip() == ""
    expected = [OfferImage.objects.get(offer_id=row.query_offer_id).preprocessed.url]
    for i in slot_order_for(row=row, validator_id=v.pk):
        expected.append(OfferImage.objects.get(offer_id=row.candidate_ids[i]).preprocessed.url)
    assert srcs == expected
    offers = Offer.objects.filter(pk__in=[row.query_offer_id, *row.candidate_ids])
    for o in offers:
        assert not on_page(o.product_id, html) and not on_page(o.offer_id, html)
    assert "gold" not in html.lower() and "similarity" not in html.lower()
    # the page still shows the first row; after the judgement the prefetched row comes next
    assert _lease_on_page(client.get(reverse("validation:review")).content.decode()) == first
    html = _fragment(client.post(reverse("validation:judge"), {"lease": first, "slot": 1}, **HX))
    assert _lease_on_page(html) == nxt.pk
    assert set(re.findall(r"\b(data-[a-z-]+)=", html)) == {"data-lease", "data-key", "data-zoom"}


def test_prefetch_without_a_row_on_screen_leases_nothing(client, routed, validators):
    client.force_login(validators[0])
    resp = client.get(reverse("validation:prefetch"), **HX)
    assert resp.status_code == 200 and resp.content.strip() == b""
    assert not ReviewLease.objects.exists()


def test_last_row_judged_sends_the_script_to_the_full_page(client, routed, validators):
    v = validators[0]
    client.force_login(v)
    first = _lease_on_page(client.get(reverse("validation:review")).content.decode())
    # every other open row is out of reach for this validator
    ReviewRow.objects.exclude(leases__pk=first).update(status=ReviewRow.Status.CLOSED)
    resp = client.post(reverse("validation:judge"), {"lease": first, "slot": 1}, **HX)
    assert resp.status_code == 204 and resp["HX-Redirect"] == reverse("validation:review")
    assert b"Nothing to review" in client.get(reverse("validation:review")).content


def test_fragment_views_need_the_validator_role_and_csrf(routed, validators, client):
    from django.test import Client

    assert client.get(reverse("validation:prefetch"))["Location"].startswith("/accounts/login/")
    c = Client(enforce_csrf_checks=True)
    c.force_login(validators[0])
    first = _lease_on_page(c.get(reverse("validation:review")).content.decode())
    assert c.post(reverse("validation:judge"), {"lease": first, "slot": 1}, **HX).status_code == 403
    assert not Judgement.objects.exists()
