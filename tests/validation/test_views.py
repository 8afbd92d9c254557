"""Views: roles, CSRF, the review flow over HTTP, nothing secret in the page."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from matching.models import MatchRun, Offer
from tests.validation.helpers import on_page
from validation.models import Export, Judgement, ReviewLease, ReviewRow, Routing
from validation.services import leasing
from validation.services.routing import route_run

from .conftest import make_user


@pytest.fixture
def routed(run):
    route_run(run=run, accept=0.8, review=0.5)
    return run


def login(client, user):
    client.force_login(user)
    return client


ADMIN_PAGES = ["validation:runs"]


def test_login_required_everywhere(client, routed):
    for name, args in [
        ("validation:review", []),
        ("validation:feedback", []),
        ("validation:runs", []),
        ("validation:triage", [routed.pk]),
        ("validation:quality", [routed.pk]),
    ]:
        resp = client.get(reverse(name, args=args))
        assert resp.status_code == 302 and "/accounts/login/" in resp["Location"]


def test_validators_cannot_open_admin_pages(client, routed, validators):
    login(client, validators[0])
    for name, args in [
        ("validation:runs", []),
        ("validation:triage", [routed.pk]),
        ("validation:quality", [routed.pk]),
    ]:
        assert client.get(reverse(name, args=args)).status_code == 403
    assert client.post(reverse("validation:export", args=[routed.pk])).status_code == 403


def test_users_without_role_cannot_review(client, routed):
    login(client, make_user("nobody", group=None))
    assert client.get(reverse("validation:review")).status_code == 403


def test_home_redirects_by_role(client, routed, validators, admin_user):
    login(client, validators[0])
    assert client.get("/")["Location"] == reverse("validation:review")
    login(client, admin_user)  # admins: the home page, what needs attention (issue 12.2)
    page = client.get("/").content.decode()
    assert "Needs attention" in page and reverse("validation:runs") in page


def test_review_page_hides_ids_scores_and_gold(client, routed, validators):
    login(client, validators[0])
    # force a gold row onto the page
    from validation.assignment import LeasePolicy

    lease = leasing.lease_next_row(validator=validators[0], policy=LeasePolicy(gold_rate=1.0))
    assert lease.row.kind == "gold"
    html = client.get(reverse("validation:review")).content.decode()
    assert 'name="csrfmiddlewaretoken"' in html
    assert f'name="lease" value="{lease.pk}"' in html
    row = lease.row
    offers = Offer.objects.filter(pk__in=[row.query_offer_id, *row.candidate_ids])
    for o in offers:
        assert not on_page(o.product_id, html)
        assert not on_page(o.offer_id, html)
        assert f"{o.price}" not in html  # price hidden by default
    assert "gold" not in html.lower()
    assert "similarity" not in html.lower()
    for sim in (f"{row.top1_similarity:.3f}", f"{row.top1_similarity:.2f}"):
        assert sim not in html
    # three candidates with keys 1..3 and "none"
    assert sorted(re.findall(r'name="slot" value="(\d)"', html)) == ["0", "1", "2", "3"]


def test_show_price_setting(client, routed, validators, cfg):
    cfg.show_price_colour_sizes = True
    cfg.save()
    login(client, validators[0])
    html = client.get(reverse("validation:review")).content.decode()
    assert "EUR" in html and "sizes" in html


def test_judge_flow_next_row_undo_and_feedback(client, routed, validators):
    v = validators[0]
    login(client, v)
    client.get(reverse("validation:review"))
    lease = ReviewLease.objects.get(validator=v)
    resp = client.post(reverse("validation:judge"), {"lease": lease.pk, "slot": 2})
    assert resp.status_code == 302 and resp["Location"] == reverse("validation:review")
    j = Judgement.objects.get(validator=v)
    assert j.slot == 2
    page = client.get(reverse("validation:review"))
    nxt = ReviewLease.objects.get(validator=v)
    assert nxt.row_id != lease.row_id
    assert b'Today: <strong id="today">1</strong>' in page.content
    client.post(reverse("validation:undo"))
    j.refresh_from_db()
    assert j.undone_at is not None
    assert ReviewLease.objects.get(validator=v).row_id == lease.row_id
    client.post(
        reverse("validation:judge"), {"lease": ReviewLease.objects.get(validator=v).pk, "slot": 0}
    )
    assert Judgement.objects.filter(validator=v, undone_at__isnull=True).count() == 1
    assert client.get(reverse("validation:feedback")).status_code == 200


def test_cannot_judge_someone_elses_lease_over_http(client, routed, validators):
    leasing.lease_next_row(validator=validators[1])
    other = ReviewLease.objects.get(validator=validators[1])
    login(client, validators[0])
    resp = client.post(reverse("validation:judge"), {"lease": other.pk, "slot": 1}, follow=True)
    assert b"not leased to you" in resp.content
    assert not Judgement.objects.exists()


def test_csrf_enforced(routed, validators):
    c = Client(enforce_csrf_checks=True)
    c.force_login(validators[0])
    c.get(reverse("validation:review"))
    lease = ReviewLease.objects.get(validator=validators[0])
    assert c.post(reverse("validation:judge"), {"lease": lease.pk, "slot": 1}).status_code == 403
    assert c.post(reverse("validation:undo")).status_code == 403


def test_skip_over_http(client, routed, validators):
    login(client, validators[0])
    client.get(reverse("validation:review"))
    lease = ReviewLease.objects.get(validator=validators[0])
    client.post(reverse("validation:skip"), {"lease": lease.pk}, follow=True)
    assert ReviewLease.objects.get(validator=validators[0]).row_id != lease.row_id


def test_empty_queue_page(client, run, validators):
    login(client, validators[0])
    resp = client.get(reverse("validation:review"))
    assert b"Nothing to review" in resp.content


def test_admin_pages_and_triage_routing(client, run, admin_user):
    login(client, admin_user)
    assert client.get(reverse("validation:runs")).status_code == 200
    resp = client.get(reverse("validation:triage", args=[run.pk]))
    assert (
        resp.status_code == 200
        and b"<svg" in resp.content
        and b"Expected precision" in resp.content
    )
    resp = client.get(
        reverse("validation:triage", args=[run.pk]),
        {"accept": "0.8", "review": "0.5", "target_precision": "0.99"},
    )
    assert b'value="0.8"' in resp.content
    resp = client.post(
        reverse("validation:triage", args=[run.pk]),
        {"accept": "0.8", "review": "0.5", "target_precision": "0.99"},
    )
    assert resp.status_code == 302
    assert ReviewRow.objects.filter(run=run, kind="review").exists()
    assert client.get(reverse("validation:quality", args=[run.pk])).status_code == 200
    resp = client.post(reverse("validation:export", args=[run.pk]))
    assert resp.status_code == 302
    csv_resp = client.get(resp["Location"])
    assert csv_resp.status_code == 200
    assert b"".join(csv_resp.streaming_content).startswith(b"query_offer_id,query_shop")
    # Django admin lists the models
    assert client.get("/admin/validation/reviewrow/").status_code in (200, 302)


def test_superuser_is_admin(client, run):
    from django.contrib.auth import get_user_model

    su = get_user_model().objects.create_superuser("root", "r@example.com", "pw")
    login(client, su)
    assert client.get(reverse("validation:runs")).status_code == 200
    assert client.get("/admin/validation/reviewsettings/").status_code == 200


@pytest.mark.parametrize("status", [MatchRun.Status.RUNNING, MatchRun.Status.FAILED])
def test_triage_and_export_refuse_a_run_that_is_not_done(client, run, admin_user, status):
    run.status = status
    run.save(update_fields=["status"])
    login(client, admin_user)
    url = reverse("validation:triage", args=[run.pk])
    message = f"Match run #{run.pk} is {status}, not done"
    resp = client.get(url)
    assert resp.status_code == 409 and message in resp.content.decode()
    assert b"routing-form" not in resp.content
    resp = client.post(url, {"accept": "0.8", "review": "0.5", "target_precision": "0.99"})
    assert resp.status_code == 409 and message in resp.content.decode()
    assert not Routing.objects.filter(run=run).exists()
    resp = client.post(reverse("validation:export", args=[run.pk]), follow=True)
    assert resp.redirect_chain[0] == (reverse("validation:runs"), 302)
    assert message in resp.content.decode()
    assert not Export.objects.filter(run=run).exists()


def test_unknown_run_is_404(client, admin_user):
    login(client, admin_user)
    assert client.get(reverse("validation:triage", args=[999])).status_code == 404
    assert client.post(reverse("validation:export", args=[999])).status_code == 404
