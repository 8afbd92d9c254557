"""Pure rules of stable product clusters (matching/products.py), without a database."""

from __future__ import annotations

from datetime import datetime, timedelta

from matching import products as p

T0 = datetime(2026, 1, 1)
SHOPS = {1: "a", 2: "b", 3: "c", 4: "a", 5: "d", 6: "e"}


def view(key, members, *, days=0, joined=None):
    return p.ProductView(
        key=key,
        created_at=T0 + timedelta(days=days),
        members={m: SHOPS[m] for m in members},
        joined=joined or {},
    )


def test_new_pair_creates_and_a_third_offer_grows_the_product():
    assert p.plan_accept(a=1, b=2, shops=SHOPS, product_of={}, products={}).kind == p.CREATED
    ch = p.plan_accept(
        a=3, b=2, shops=SHOPS, product_of={1: "K1", 2: "K1"}, products={"K1": view("K1", [1, 2])}
    )
    assert (ch.kind, ch.key, ch.add) == (p.GROWN, "K1", (3,))


def test_two_offers_of_one_shop_in_a_product_is_a_conflict_listing_them():
    ch = p.plan_accept(
        a=4, b=2, shops=SHOPS, product_of={1: "K1", 2: "K1"}, products={"K1": view("K1", [1, 2])}
    )
    assert ch.kind == p.CONFLICT and set(ch.offers) == {4, 2, 1} and ch.keys == ("K1",)
    same_shop = p.plan_accept(a=1, b=4, shops=SHOPS, product_of={}, products={})
    assert same_shop.kind == p.CONFLICT and "both offers are of shop a" in same_shop.reason


def test_merge_keeps_the_older_key_whichever_side_it_is_on():
    products = {"OLD": view("OLD", [1, 2], days=0), "NEW": view("NEW", [3, 5], days=3)}
    of = {1: "OLD", 2: "OLD", 3: "NEW", 5: "NEW"}
    for a, b in ((2, 3), (3, 2)):
        ch = p.plan_accept(a=a, b=b, shops=SHOPS, product_of=of, products=products)
        assert (ch.kind, ch.key, ch.absorbed, ch.add) == (p.MERGED, "OLD", "NEW", (3, 5))


def test_merging_products_that_share_a_shop_is_a_conflict():
    products = {"K1": view("K1", [1, 2]), "K2": view("K2", [4, 3], days=1)}
    ch = p.plan_accept(
        a=2, b=3, shops=SHOPS, product_of={1: "K1", 2: "K1", 4: "K2", 3: "K2"}, products=products
    )
    assert ch.kind == p.CONFLICT and {1, 4} <= set(ch.offers) and set(ch.keys) == {"K1", "K2"}


def test_split_keeps_the_key_on_the_part_of_the_earliest_member():
    joined = {1: T0, 2: T0, 3: T0 + timedelta(days=1), 5: T0 + timedelta(days=2)}
    prod = view("K", [1, 2, 3, 5], joined=joined)
    # links 1-2 and 3-5 remain; 2-3 was rejected
    ch = p.plan_unlink(a=2, b=3, product=prod, edges=[(1, 2), (3, 5)], human=True)
    assert ch.kind == p.SPLIT and ch.key == "K"
    assert ch.parts == (frozenset({3, 5}),) and ch.removed == frozenset()


def test_split_off_lone_offer_leaves_and_an_emptied_product_loses_all():
    prod = view("K", [1, 2, 3], joined={1: T0, 2: T0, 3: T0 + timedelta(days=1)})
    ch = p.plan_unlink(a=2, b=3, product=prod, edges=[(1, 2)], human=True)
    assert (ch.kind, ch.parts, ch.removed) == (p.SHRUNK, (), frozenset({3}))
    pair = view("K2", [1, 2])
    ch = p.plan_unlink(a=1, b=2, product=pair, edges=[], human=False)
    assert ch.removed == frozenset({1, 2})


def test_rejection_of_a_pair_still_linked_elsewhere_is_a_conflict_for_humans_only():
    prod = view("K", [1, 2, 3])
    edges = [(1, 3), (3, 2)]
    assert p.plan_unlink(a=1, b=2, product=prod, edges=edges, human=True).kind == p.CONFLICT
    assert p.plan_unlink(a=1, b=2, product=prod, edges=edges, human=False).kind == p.NOOP


def test_components():
    parts = p.components([1, 2, 3, 4, 5], [(1, 2), (2, 3), (4, 5), (9, 1)])
    assert sorted(map(sorted, parts)) == [[1, 2, 3], [4, 5]]
