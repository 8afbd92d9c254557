"""/api/v1/products/: the product export grouped by product key, filters, cursor pages, aliases."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from matching import loop_selectors
from matching import verdicts as vrules
from matching.models import Offer, Product, ProductMembership, Shop
from matching.services import loop

URL = "/api/v1/products/"
T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def at(seconds: int) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def verdict(q: Offer, c: Offer, *, ok: bool = True, source=vrules.AUTO, now: dt.datetime):
    return loop.record_verdicts(
        verdicts=[
            vrules.NewVerdict(
                query_offer_id=q.pk,
                candidate_offer_id=c.pk,
                verdict=vrules.ACCEPTED if ok else vrules.REJECTED,
                source=source,
            )
        ],
        now=now,
    )


def make_offers(*names: str) -> dict[str, Offer]:
    """Offers named <shop letter><n>, e.g. a1 (shop-a): name -> Offer."""
    out = {}
    for name in names:
        shop, _ = Shop.objects.get_or_create(name=f"shop-{name[0]}")
        out[name] = Offer.objects.create(
            shop=shop, offer_id=name, title=name, text_normalised=name, content_hash=f"h-{name}"
        )
    return out


def key_of(offer: Offer) -> str | None:
    m = ProductMembership.objects.filter(offer=offer).select_related("product").first()
    return m.product.key if m else None


@pytest.fixture
def scenario(db):
    """Products built through the loop service: a merge (alias), a human-decided product, a
    human confirmation, and a product every offer of which left (empty, not exported)."""
    o = make_offers("a1", "b1", "c1", "d1", "a2", "b2", "a3", "b3", "c4", "d4")
    verdict(o["a1"], o["b1"], now=at(0))  # P_old: a1 b1
    verdict(o["c1"], o["d1"], now=at(10))  # P_young: c1 d1
    old, young = key_of(o["a1"]), key_of(o["c1"])
    verdict(o["d1"], o["b1"], now=at(20))  # merge: young -> alias of old
    verdict(o["a2"], o["b2"], source=vrules.HUMAN, now=at(30))  # P_human: a2 b2
    verdict(o["a3"], o["b3"], now=at(40))
    empty = key_of(o["a3"])
    verdict(o["a3"], o["b3"], ok=False, source=vrules.HUMAN, now=at(50))  # both leave
    verdict(o["c4"], o["d4"], now=at(60))  # P_late: c4 d4
    verdict(o["c4"], o["d4"], source=vrules.HUMAN, now=at(70))  # confirmed by validators
    assert key_of(o["a3"]) is None and Product.objects.get(key=young).alias_of.key == old
    return {
        "offers": o,
        "old": old,
        "young": young,
        "human": key_of(o["a2"]),
        "empty": empty,
        "late": key_of(o["c4"]),
    }


def walk(api, url=URL, **params):
    """Every product of the feed, following the `next` links; also the number of pages."""
    rows, pages = [], 0
    resp = api.get(url, params)
    while True:
        assert resp.status_code == 200, resp.content
        body = resp.json()
        rows += body["results"]
        pages += 1
        if not body["next"]:
            return rows, pages
        resp = api.get(body["next"])


def flat(products) -> list[tuple]:
    """API products as export rows: (offer_id, shop, product_key, decided_by, updated_at)."""
    return sorted(
        (o["offer_id"], o["shop"], p["key"], o["decided_by"], second(o["updated_at"]))
        for p in products
        for o in p["offers"]
    )


def second(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value).replace(microsecond=0)


def export(tmp_path, *args: str) -> list[tuple]:
    out = tmp_path / "products.csv"
    call_command("export_products", "--out", str(out), *args, stdout=io.StringIO())
    with open(out, newline="", encoding="utf-8") as fh:
        header, *rows = list(csv.reader(fh))
    assert header == ["offer_id", "shop", "product_key", "decided_by", "updated_at"]
    return sorted((a, b, c, d, second(e)) for a, b, c, d, e in rows)


def test_urls():
    assert reverse("api:products") == URL
    assert reverse("api:product", kwargs={"key": "P1"}) == URL + "P1/"


def test_same_content_as_export_products(api, scenario, tmp_path):
    products, _ = walk(api)
    expected = export(tmp_path)
    assert flat(products) == expected
    assert len({r[0] for r in expected}) == len(expected) == 8  # every accepted offer once
    by_key = {p["key"]: p for p in products}
    assert set(by_key) == {scenario["old"], scenario["human"], scenario["empty"], scenario["late"]}
    assert by_key[scenario["empty"]]["offers"] == []  # every offer left: listed with none
    old = by_key[scenario["old"]]
    assert [(o["shop"], o["offer_id"]) for o in old["offers"]] == [
        ("shop-a", "a1"),
        ("shop-b", "b1"),
        ("shop-c", "c1"),
        ("shop-d", "d1"),
    ]
    assert old["aliases"] == [scenario["young"]]
    assert {o["decided_by"] for o in by_key[scenario["human"]]["offers"]} == {"human"}
    assert {o["decided_by"] for o in by_key[scenario["late"]]["offers"]} == {"human"}
    for p in products:  # a product's updated_at: its latest membership change
        if not p["offers"]:
            continue
        assert second(p["updated_at"]) == max(second(o["updated_at"]) for o in p["offers"])
        assert set(p) == {"key", "aliases", "created_at", "updated_at", "offers"}
        assert set(p["offers"][0]) == {"offer_id", "shop", "decided_by", "updated_at"}
    assert second(old["updated_at"]) == at(20)  # the merge moved c1 d1
    assert second(by_key[scenario["late"]]["updated_at"]) == at(70)  # human confirmation
    # and again: same keys, same content (keys are stable)
    assert flat(walk(api)[0]) == expected


def test_valid_token_gets_the_content_and_no_token_gets_401(api, scenario, tmp_path):
    detail = URL + scenario["old"] + "/"
    assert flat(walk(api)[0]) == export(tmp_path)
    assert api.get(detail).json()["key"] == scenario["old"]
    anon = Client()
    for url in (URL, detail, URL + "?shop=shop-a", URL + "no-such-key/"):
        for headers in ({}, {"HTTP_AUTHORIZATION": "Token not-a-token"}):
            resp = anon.get(url, **headers)
            assert resp.status_code == 401, (url, headers)
            assert resp["WWW-Authenticate"] == "Token"
            body = resp.content.decode()
            assert scenario["old"] not in body and "a1" not in body


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_read_only(api, scenario, method):
    for url in (URL, URL + scenario["old"] + "/"):
        resp = getattr(api, method)(url, data={}, content_type="application/json")
        assert resp.status_code == 405, url
    assert Product.objects.filter(key=scenario["old"]).exists()


def test_filter_by_shop(api, scenario, tmp_path):
    for shop, keys in [
        ("shop-a", {scenario["old"], scenario["human"]}),
        ("shop-c", {scenario["old"], scenario["late"]}),
        ("shop-d", {scenario["old"], scenario["late"]}),
    ]:
        products, _ = walk(api, shop=shop)
        assert {p["key"] for p in products} == keys, shop
        # every offer of the product is listed; this shop's offers are the export's
        mine = [r for r in flat(products) if r[1] == shop]
        assert mine == export(tmp_path, "--shop", shop)
        assert len(flat(products)) > len(mine)
    resp = api.get(URL, {"shop": "no-such-shop"})
    assert resp.status_code == 400 and "unknown shop" in resp.json()["shop"][0]
    assert walk(api, shop="shop-b")[0]  # a shop with products
    make_offers("z1")
    assert walk(api, shop="shop-z")[0] == []  # a known shop without products


def test_updated_since(api, scenario):
    old, human, empty, late = (scenario[k] for k in ("old", "human", "empty", "late"))
    for since, keys in [
        (at(-1), {old, human, empty, late}),
        (at(20), {old, human, empty, late}),  # at or after
        (at(21), {human, empty, late}),
        (at(31), {empty, late}),  # empty: its offers left at 50
        (at(51), {late}),
        (at(70), {late}),
        (at(71), set()),
    ]:
        products, _ = walk(api, updated_since=since.isoformat())
        assert {p["key"] for p in products} == keys, since
        changed = {r[2] for r in loop_selectors.export_rows(since=since)}
        assert {p["key"] for p in products if p["offers"]} == changed, since
    # an offer leaving a product that goes on is a change of that product
    o = make_offers("e6", "f6", "g6")
    verdict(o["e6"], o["f6"], now=at(100))
    verdict(o["f6"], o["g6"], now=at(110))
    verdict(o["f6"], o["g6"], ok=False, source=vrules.HUMAN, now=at(120))  # g6 leaves
    (shrunk,) = walk(api, updated_since=at(115).isoformat())[0]
    assert shrunk["key"] == key_of(o["e6"]) and second(shrunk["updated_at"]) == at(120)
    assert [x["offer_id"] for x in shrunk["offers"]] == ["e6", "f6"]
    products, _ = walk(api, updated_since=at(21).isoformat(), shop="shop-a")
    assert [p["key"] for p in products] == [scenario["human"]]
    resp = api.get(URL, {"updated_since": "yesterday"})
    assert resp.status_code == 400 and "updated_since" in resp.json()


def test_pages_walk_every_product_once_in_a_stable_order(api, db):
    shops = "abcdefgh"
    offers = make_offers(*(f"{s}{n}" for s in shops for n in range(6)))
    # 24 products, many changed at the same instant (ties in updated_at)
    for n in range(6):
        for i in range(0, len(shops), 2):
            a, b = offers[f"{shops[i]}{n}"], offers[f"{shops[i + 1]}{n}"]
            verdict(a, b, now=at(n // 2))
    expected = set(Product.objects.values_list("key", flat=True))
    assert len(expected) == 24
    products, pages = walk(api, page_size=5)
    keys = [p["key"] for p in products]
    assert len(keys) == len(set(keys)) == 24 and set(keys) == expected
    assert pages == 5
    order = [second(p["updated_at"]) for p in products]
    assert order == sorted(order)
    assert [p["key"] for p in walk(api, page_size=5)[0]] == keys  # the same order again
    assert [p["key"] for p in walk(api, page_size=1000)[0]] == keys
    with CaptureQueriesContext(connection) as few:
        api.get(URL, {"page_size": 2})
    with CaptureQueriesContext(connection) as many:
        api.get(URL, {"page_size": 24})
    assert len(many) == len(few) <= 8  # no query per product (offers, shops, aliases prefetched)
    # a product that changes while a consumer walks moves to the end of the walk
    first = api.get(URL, {"page_size": 5}).json()
    verdict(offers["a0"], offers["c0"], now=at(100))  # merges two products of the first page
    survivor = key_of(offers["a0"])
    assert survivor in {p["key"] for p in first["results"]}
    rest, _ = walk(api, url=first["next"])
    assert rest[-1]["key"] == survivor and second(rest[-1]["updated_at"]) == at(100)


def test_product_by_key_and_its_aliases(api, scenario):
    old = api.get(URL + scenario["old"] + "/")
    assert old.status_code == 200
    body = old.json()
    assert body["key"] == body["requested_key"] == scenario["old"] and body["alias_of"] is None
    listed = {p["key"]: p for p in walk(api)[0]}[scenario["old"]]
    assert {k: body[k] for k in listed} == listed  # the list's item, plus the key fields
    young = api.get(URL + scenario["young"] + "/").json()
    assert young["key"] == young["alias_of"] == scenario["old"]
    assert young["requested_key"] == scenario["young"]
    assert young["offers"] == body["offers"]
    # a second merge into the old product: both merged keys resolve to it
    o = scenario["offers"] | make_offers("e5", "f5")
    verdict(o["e5"], o["f5"], now=at(80))
    newer = key_of(o["e5"])
    verdict(o["e5"], o["a1"], now=at(90))  # merges newer into old (old is older)
    merged = api.get(URL + newer + "/").json()
    assert merged["key"] == merged["alias_of"] == scenario["old"]
    assert merged["requested_key"] == newer
    assert {"e5", "f5", "a1", "d1"} <= {x["offer_id"] for x in merged["offers"]}
    assert api.get(URL + scenario["young"] + "/").json()["key"] == scenario["old"]
    assert sorted(api.get(URL + scenario["old"] + "/").json()["aliases"]) == sorted(
        [scenario["young"], newer]
    )
    assert newer not in {p["key"] for p in walk(api)[0]}
    resp = api.get(URL + "PNOSUCHKEY/")
    assert resp.status_code == 404 and "PNOSUCHKEY" in resp.json()["detail"]


def test_a_product_all_of_whose_offers_left(api, scenario):
    body = api.get(URL + scenario["empty"] + "/").json()
    assert body["key"] == scenario["empty"] and body["offers"] == []
    assert second(body["updated_at"]) == at(50) and body["alias_of"] is None
    listed = {p["key"]: p for p in walk(api)[0]}[scenario["empty"]]
    assert listed["offers"] == [] and listed["updated_at"] == body["updated_at"]
    assert scenario["empty"] not in {p["key"] for p in walk(api, shop="shop-a")[0]}


def test_schema_describes_the_products_feed(client, db):
    doc = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    feed = doc["paths"]["/api/v1/products/"]
    assert set(feed) == {"get"}
    assert {"shop", "updated_since", "cursor", "page_size"} <= {
        p["name"] for p in feed["get"]["parameters"]
    }
    one = doc["paths"]["/api/v1/products/{key}/"]
    assert set(one) == {"get"}
    assert [p["name"] for p in one["get"]["parameters"] if p["in"] == "path"] == ["key"]
    fields = doc["components"]["schemas"]["ProductDetail"]["properties"]
    assert {"key", "requested_key", "alias_of", "aliases", "updated_at", "offers"} <= set(fields)
    assert fields["alias_of"].get("nullable") is True
    assert {"ApiToken": []} in feed["get"]["security"]


def test_schema_generates_without_warnings(db, tmp_path):
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert "/api/v1/products/{key}/:" in out.read_text()
