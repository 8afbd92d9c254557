"""Verdicts remembered across runs and stable product clusters, through the loop service."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from matching import loop_selectors
from matching import verdicts as vrules
from matching.models import (
    Offer,
    PairVerdict,
    Product,
    ProductConflict,
    ProductEvent,
    ProductMembership,
    Shop,
)
from matching.services import loop

pytestmark = pytest.mark.django_db


@pytest.fixture
def offers():
    """Offers a1, a2 (shop a), b1, b2 (shop b), c1 (shop c), d1 (shop d): name -> Offer."""
    out = {}
    for name in ("a1", "a2", "b1", "b2", "c1", "d1"):
        shop, _ = Shop.objects.get_or_create(name=f"shop-{name[0]}")
        out[name] = Offer.objects.create(
            shop=shop, offer_id=name, title=name, text_normalised=name, content_hash=f"h-{name}"
        )
    return out


def accept(q, c, *, source=vrules.AUTO, now=None):
    return loop.record_verdicts(
        verdicts=[
            vrules.NewVerdict(
                query_offer_id=q.pk, candidate_offer_id=c.pk, verdict=vrules.ACCEPTED, source=source
            )
        ],
        now=now,
    )


def reject(q, c, *, now=None):
    return loop.record_verdicts(
        verdicts=[
            vrules.NewVerdict(
                query_offer_id=q.pk,
                candidate_offer_id=c.pk,
                verdict=vrules.REJECTED,
                source=vrules.HUMAN,
            )
        ],
        now=now,
    )


def key_of(offer) -> str | None:
    m = ProductMembership.objects.filter(offer=offer).select_related("product").first()
    return m.product.key if m else None


def test_verdict_keeps_hashes_and_goes_stale_when_an_offer_changes(offers):
    (pv,) = accept(offers["a1"], offers["b1"])
    assert (pv.query_hash, pv.candidate_hash) == ("h-a1", "h-b1")
    ids = [offers["a1"].pk]
    assert loop_selectors.decided_query_offers(ids) == {offers["a1"].pk}
    Offer.objects.filter(pk=offers["b1"].pk).update(content_hash="h-b1-new")
    assert loop_selectors.decided_query_offers(ids) == set()
    assert loop_selectors.current_verdicts_for_queries(ids) == {}


def test_products_grow_with_a_stable_key_and_record_events(offers):
    accept(offers["a1"], offers["b1"])
    key = key_of(offers["a1"])
    assert key and key_of(offers["b1"]) == key
    accept(offers["c1"], offers["b1"])
    assert key_of(offers["c1"]) == key
    kinds = list(
        ProductEvent.objects.filter(product__key=key)
        .order_by("at", "id")
        .values_list("kind", flat=True)
    )
    assert kinds == ["created", "grown"]
    assert ProductEvent.objects.filter(product__key=key, verdict__isnull=False).count() == 2


def test_merge_keeps_the_older_key_and_the_other_becomes_an_alias(offers):
    t = timezone.now()
    accept(offers["a1"], offers["b1"], now=t)
    accept(offers["c1"], offers["d1"], now=t + timedelta(seconds=5))
    old, young = key_of(offers["a1"]), key_of(offers["c1"])
    accept(offers["d1"], offers["b1"], now=t + timedelta(seconds=10))
    assert {key_of(offers[n]) for n in ("a1", "b1", "c1", "d1")} == {old}
    young_product = Product.objects.get(key=young)
    assert young_product.alias_of.key == old
    assert loop_selectors.product_by_key(young).key == old
    assert ProductEvent.objects.filter(kind="merged", product__key=young).exists()


def test_a_second_offer_of_a_shop_is_a_conflict_not_a_silent_merge(offers):
    accept(offers["a1"], offers["b1"])
    key = key_of(offers["a1"])
    accept(offers["a2"], offers["b1"])
    assert key_of(offers["a2"]) is None and key_of(offers["a1"]) == key
    conflict = ProductConflict.objects.get()
    assert set(conflict.offer_ids) == {offers["a1"].pk, offers["a2"].pk, offers["b1"].pk}
    assert conflict.product_keys == [key] and conflict.status == "open"
    assert ProductEvent.objects.filter(kind="conflict", product__key=key).exists()


def test_human_rejection_splits_and_the_split_off_part_gets_a_new_key(offers):
    t = timezone.now()
    accept(offers["a1"], offers["b1"], now=t)
    key = key_of(offers["a1"])
    accept(offers["c1"], offers["d1"], now=t + timedelta(seconds=1))
    accept(offers["c1"], offers["b1"], now=t + timedelta(seconds=2))  # merge: key survives
    assert key_of(offers["d1"]) == key
    reject(offers["c1"], offers["b1"], now=t + timedelta(seconds=3))
    assert key_of(offers["a1"]) == key_of(offers["b1"]) == key
    new = key_of(offers["c1"])
    assert new not in (None, key) and key_of(offers["d1"]) == new
    ev = ProductEvent.objects.get(product__key=key, kind="split")
    assert ev.details["new_keys"] == [new] and ev.verdict.verdict == "rejected"


def test_human_confirmation_marks_offers_decided_by_humans(offers):
    accept(offers["a1"], offers["b1"])
    assert set(ProductMembership.objects.values_list("decided_by", flat=True)) == {"auto"}
    accept(offers["a1"], offers["b1"], source=vrules.HUMAN)
    assert set(ProductMembership.objects.values_list("decided_by", flat=True)) == {"human"}


def test_review_decision_is_idempotent_and_a_changed_outcome_replaces_it(offers):
    args = {"run_id": None, "review_row_id": 7, "query_offer_id": offers["a1"].pk}
    shown = [offers["b1"].pk, offers["b2"].pk]
    got = loop.record_review_decision(
        **args, shown=shown, choice=offers["b1"].pk, votes_for=3, votes_total=3
    )
    assert len(got) == 2 and key_of(offers["b1"]) == key_of(offers["a1"]) is not None
    again = loop.record_review_decision(
        **args, shown=shown, choice=offers["b1"].pk, votes_for=3, votes_total=3
    )
    assert again == [] and PairVerdict.objects.count() == 2
    loop.record_review_decision(**args, shown=shown, choice=None, votes_for=2, votes_total=3)
    assert key_of(offers["a1"]) is None
    assert set(PairVerdict.objects.values_list("verdict", flat=True)) == {"rejected"}
    assert loop.withdraw_review_decision(review_row_id=7) == 2
    assert not PairVerdict.objects.exists()


def test_replace_auto_verdicts_keeps_unchanged_pairs_and_withdraws_the_others(offers):
    a1, b1, c1, d1 = (offers[n] for n in ("a1", "b1", "c1", "d1"))
    loop.replace_auto_verdicts(run_id=None, accepted=[(a1.pk, b1.pk, 0.9), (c1.pk, d1.pk, 0.8)])
    key = key_of(a1)
    out = loop.replace_auto_verdicts(run_id=None, accepted=[(a1.pk, b1.pk, 0.9)])
    assert out == {"added": 0, "withdrawn": 1, "kept": 1}
    assert key_of(a1) == key and key_of(c1) is None and key_of(d1) is None


def read_export(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_export_products_command(offers, tmp_path):
    accept(offers["a1"], offers["b1"])
    Offer.objects.filter(pk=offers["c1"].pk).update(offer_id="=HYPERLINK(1)")
    accept(offers["c1"], offers["d1"], source=vrules.HUMAN)
    out = tmp_path / "p.csv"
    call_command("export_products", "--out", str(out), stdout=io.StringIO())
    rows = read_export(out)
    assert rows[0] == ["offer_id", "shop", "product_key", "decided_by", "updated_at"]
    body = {r[0]: r for r in rows[1:]}
    assert set(body) == {"a1", "b1", "'=HYPERLINK(1)", "d1"}  # every offer once, neutralised
    assert body["a1"][2] == body["b1"][2] != body["d1"][2]
    assert body["d1"][3] == "human" and body["a1"][3] == "auto"
    out2 = tmp_path / "p2.csv"
    call_command("export_products", "--out", str(out2), stdout=io.StringIO())
    assert read_export(out2) == rows  # keys stable across exports
    call_command("export_products", "--out", str(out2), "--shop", "shop-a", stdout=io.StringIO())
    assert [r[0] for r in read_export(out2)[1:]] == ["a1"]
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    call_command("export_products", "--out", str(out2), "--since", tomorrow, stdout=io.StringIO())
    assert read_export(out2) == [rows[0]]
    with pytest.raises(CommandError, match="no shop named"):
        call_command("export_products", "--out", str(out2), "--shop", "nope")
    with pytest.raises(CommandError, match="not a date"):
        call_command("export_products", "--out", str(out2), "--since", "yesterday")


def test_admin_download_of_the_product_feed(offers, client, django_user_model):
    accept(offers["a1"], offers["b1"])
    url = "/admin/matching/productmembership/export.csv"
    assert client.get(url).status_code == 302  # login required
    admin = django_user_model.objects.create_superuser("root", "r@x.test", "pw")
    client.force_login(admin)
    resp = client.get(url)
    assert resp.status_code == 200 and resp["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(resp.content.decode())))
    assert rows[0][:3] == ["offer_id", "shop", "product_key"] and len(rows) == 3
    assert client.get(url + "?since=bad").status_code == 400
    page = client.get("/admin/matching/productmembership/")
    assert b"export.csv" in page.content


def test_admin_pages_of_the_loop(offers, client, django_user_model):
    accept(offers["a1"], offers["b1"])
    accept(offers["a2"], offers["b1"])  # conflict
    conflict = ProductConflict.objects.get()
    product = Product.objects.get()
    client.force_login(django_user_model.objects.create_superuser("root", "r@x.test", "pw"))
    page = client.get(f"/admin/matching/productconflict/{conflict.pk}/change/")
    assert page.status_code == 200 and b"a2" in page.content and b"a1" in page.content
    page = client.get(f"/admin/matching/product/{product.pk}/change/")
    assert page.status_code == 200 and b"conflict" in page.content
    for name in ("pairverdict", "product", "productconflict", "productmembership"):
        assert client.get(f"/admin/matching/{name}/").status_code == 200
