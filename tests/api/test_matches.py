"""/api/v1/matches/: the export's rows, filters, stable cursor pages."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from demo.synthetic_run import create_synthetic_run
from validation.export import one_to_one
from validation.models import Decision, ReviewRow
from validation.selectors.runs import accepted_matches
from validation.services import leasing as leasing_services
from validation.services import review as review_services
from validation.services.routing import route_run

from .conftest import make_user

URL = "/api/v1/matches/"


def _all(api, **params):
    """Every row of the feed, following the `next` links; also returns the number of pages."""
    rows, pages, url = [], 0, URL
    resp = api.get(url, params)
    while True:
        assert resp.status_code == 200, resp.content
        body = resp.json()
        rows += body["results"]
        pages += 1
        if not body["next"]:
            return rows, pages
        resp = api.get(body["next"])


def _key(r):
    return (r["run"], r["query_shop"], r["query_offer_id"], r["matched_offer_id"])


def _export_keys(run):
    kept, _ = one_to_one(accepted_matches(run=run))
    return {(run.pk, r.query_shop, r.query_offer_id, r.matched_offer_id) for r in kept}


def _judge_all_open(run, users):
    for user in users:
        while True:
            lease = leasing_services.lease_next_row(validator=user, run=run)
            if lease is None:
                break
            review_services.judge_row(validator=user, lease_id=lease.pk, slot=1)


def test_same_rows_as_the_export_auto_and_human(api, routed):
    _judge_all_open(routed, [make_user(f"v{i}") for i in range(3)])
    assert Decision.objects.filter(run=routed, source="human").exists()
    rows, _ = _all(api)
    assert {_key(r) for r in rows} == _export_keys(routed)
    assert {r["source"] for r in rows} == {"auto", "human"}
    human = next(r for r in rows if r["source"] == "human")
    d = Decision.objects.get(pk=human["id"])
    assert human["votes_for"] == d.votes_for and human["votes_total"] == d.votes_total >= 1
    assert human["similarity"] == d.similarity and human["model"] is None
    assert human["matched_shop"] == routed.index_shop.name
    assert human["query_shop"] == routed.query_shop.name
    assert set(human) == {
        "id",
        "query_offer_id",
        "query_shop",
        "matched_offer_id",
        "matched_shop",
        "similarity",
        "source",
        "votes_for",
        "votes_total",
        "model",
        "run",
        "decided_at",
    }


def test_rejected_and_dropped_conflicts_are_left_out(api, routed):
    auto = list(Decision.objects.filter(run=routed, source="auto").order_by("query_offer_id"))
    assert len(auto) >= 2
    # a second auto pair onto the same matched offer: the export keeps one of the two
    a, b = auto[0], auto[1]
    b.matched_offer_id = a.matched_offer_id
    b.similarity = (a.similarity or 0) - 0.01
    b.save()
    # and one rejection (no matched offer)
    auto[-1].matched_offer = None
    auto[-1].save()
    rows, _ = _all(api)
    ids = {r["id"] for r in rows}
    assert a.pk in ids and b.pk not in ids and auto[-1].pk not in ids
    assert {_key(r) for r in rows} == _export_keys(routed)


def test_pages_walk_every_row_once_in_a_stable_order(api, routed):
    expected = _export_keys(routed)
    rows, pages = _all(api, page_size=7)
    assert len(rows) == len(expected) and {_key(r) for r in rows} == expected
    assert pages == -(-len(expected) // 7) and pages > 1
    order = [(r["decided_at"], r["id"]) for r in rows]
    assert order == sorted(order)
    again, _ = _all(api, page_size=7)
    assert [r["id"] for r in again] == [r["id"] for r in rows]


def test_filter_by_shop_and_run(api, routed):
    other = create_synthetic_run(n_queries=30, seed=2)
    route_run(run=other, accept=0.8, review=0.5)
    both, _ = _all(api)
    assert {r["run"] for r in both} == {routed.pk, other.pk}
    for shop, run in [
        (routed.query_shop.name, routed),
        (routed.index_shop.name, routed),
        (other.query_shop.name, other),
    ]:
        rows, _ = _all(api, shop=shop)
        assert rows and {_key(r) for r in rows} == _export_keys(run)
    rows, _ = _all(api, run=other.pk)
    assert {_key(r) for r in rows} == _export_keys(other)


def test_updated_since(api, routed):
    rows, _ = _all(api)
    later = timezone.now() + dt.timedelta(seconds=1)
    # a human decision after `later`: the only row since then
    Decision.objects.filter(pk=rows[0]["id"]).update(
        decided_at=later + dt.timedelta(hours=1), source="human"
    )
    since, _ = _all(api, updated_since=later.isoformat())
    assert [r["id"] for r in since] == [rows[0]["id"]]
    assert _all(api, updated_since="2000-01-01T00:00:00Z")[0].__len__() == len(rows)


def test_bad_filters_are_400_with_the_reason(api, routed):
    resp = api.get(URL, {"shop": "no-such-shop"})
    assert resp.status_code == 400 and "unknown shop" in resp.json()["shop"][0]
    resp = api.get(URL, {"updated_since": "yesterday"})
    assert resp.status_code == 400 and "updated_since" in resp.json()
    resp = api.get(URL, {"run": "x"})
    assert resp.status_code == 400 and "run" in resp.json()


def test_no_review_row_data_leaks(api, routed):
    """The feed holds accepted pairs only: nothing about open rows, gold rows or truth."""
    body = api.get(URL).content.decode()
    assert "truth" not in body and "gold" not in body
    assert ReviewRow.objects.filter(run=routed).exists()
