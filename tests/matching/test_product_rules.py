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


# --- conflicts validators can settle (questions) and human acceptances over automatic ones ---


def test_a_newcomer_clash_asks_which_offer_of_that_shop_is_the_anchor_s_product():
    # 1 (shop a) and 2 (shop b) are one product; 4 (shop a) is accepted with 2
    products = {"K1": view("K1", [1, 2])}
    for a, b in ((4, 2), (2, 4)):
        ch = p.plan_accept(a=a, b=b, shops=SHOPS, product_of={1: "K1", 2: "K1"}, products=products)
        assert ch.kind == p.CONFLICT and ch.question == (2, (1, 4))


def test_a_merge_clash_asks_about_the_side_that_holds_the_other_offer_s_shop():
    # K1 = {1 (a), 3 (c)}, K2 = {2 (b), 4 (a)}: accepting 3-2 puts 1 and 4 (shop a) together,
    # a shop neither 3 nor 2 is of: no single question (left to admins)
    products = {"K1": view("K1", [1, 3]), "K2": view("K2", [2, 4], days=1)}
    of = {1: "K1", 3: "K1", 2: "K2", 4: "K2"}
    third = p.plan_accept(a=3, b=2, shops=SHOPS, product_of=of, products=products)
    assert third.kind == p.CONFLICT and third.question is None
    # accepting 1-2 instead: K2 holds 4 of 1's shop -> which of 1, 4 is 2's product?
    ch = p.plan_accept(a=1, b=2, shops=SHOPS, product_of=of, products=products)
    assert ch.kind == p.CONFLICT and ch.question == (2, (1, 4))
    # and from the other side: 2 accepted with 1, K1 holds no b offer, K2 holds 4 of a's shop
    ch = p.plan_accept(a=2, b=1, shops=SHOPS, product_of=of, products=products)
    assert ch.question == (2, (1, 4))


def test_two_offers_of_one_shop_in_one_pair_have_no_question():
    ch = p.plan_accept(a=1, b=4, shops=SHOPS, product_of={}, products={})
    assert ch.kind == p.CONFLICT and ch.question is None


def test_a_rejection_still_linked_through_one_offer_asks_which_of_the_two_it_is():
    prod = view("K", [1, 2, 3])
    ch = p.plan_unlink(a=1, b=2, product=prod, edges=[(1, 3), (3, 2)], human=True)
    assert ch.kind == p.CONFLICT and ch.question == (3, (1, 2))
    longer = view("K", [1, 2, 3, 5])
    ch = p.plan_unlink(a=1, b=2, product=longer, edges=[(1, 3), (3, 5), (5, 2)], human=True)
    assert ch.kind == p.CONFLICT and ch.question is None  # a chain: no single question


def test_unlink_keep_leaves_the_anchor_in_its_product_with_the_key_even_alone():
    joined = {1: T0, 2: T0 + timedelta(days=1)}
    prod = view("K", [1, 2], joined=joined)
    ch = p.plan_unlink(a=1, b=2, product=prod, edges=[], human=False, keep=2)
    assert (ch.kind, ch.key, ch.removed) == (p.SHRUNK, "K", frozenset({1}))
    bigger = view("K", [1, 2, 3, 5], joined={1: T0, 2: T0, 3: T0, 5: T0})
    ch = p.plan_unlink(a=2, b=3, product=bigger, edges=[(1, 2), (3, 5)], human=False, keep=3)
    # 3's part keeps the key although 1 is the earliest member; 1-2 split off with a new key
    assert ch.parts == (frozenset({1, 2}),) and ch.removed == frozenset()


def test_human_accept_overrides_an_automatic_link_to_a_rival_of_the_same_shop():
    # 2 (shop b) auto-accepted with 1 (shop a); validators accept 4 (shop a) with 2
    products = {"K1": view("K1", [1, 2])}
    args = dict(shops=SHOPS, product_of={1: "K1", 2: "K1"}, products=products, edges=[(1, 2)])
    assert p.human_overrides(a=4, b=2, automatic=[(1, 2)], **args) == ((1, 2),)
    assert p.human_overrides(a=2, b=4, automatic=[(2, 1)], **args) == ((1, 2),)
    # the rival's link is human: nothing is overridden (the conflict goes to review)
    assert p.human_overrides(a=4, b=2, automatic=[], **args) == ()


def test_human_accept_does_not_override_when_the_rival_stays_linked_another_way():
    # K1 = {1 (a), 2 (b), 3 (c)}: 2-1 automatic, but 1 is also linked to 2 through 3 (human)
    products = {"K1": view("K1", [1, 2, 3])}
    of = {1: "K1", 2: "K1", 3: "K1"}
    edges = [(1, 2), (1, 3), (2, 3)]
    cut = p.human_overrides(
        a=4, b=2, shops=SHOPS, product_of=of, products=products, edges=edges, automatic=[(1, 2)]
    )
    assert cut == ()
    # with 1-3 automatic too, only the direct link 1-2 is 2's own: 1 still hangs on 3, which
    # hangs on 2 by a human link, so 1 and 4 would still meet: no override either
    cut = p.human_overrides(
        a=4,
        b=2,
        shops=SHOPS,
        product_of=of,
        products=products,
        edges=edges,
        automatic=[(1, 2), (1, 3)],
    )
    assert cut == ()


def test_human_accept_without_a_conflict_needs_no_override():
    assert (
        p.human_overrides(a=1, b=2, shops=SHOPS, product_of={}, products={}, edges=[], automatic=[])
        == ()
    )
