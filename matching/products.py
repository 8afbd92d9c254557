"""Stable product clusters: pure rules (plain Python, no ORM).

Accepted pairs build products. Invariants: an offer belongs to at most one product; a product
holds at most one offer per shop. A product's key never changes while it exists:

* an accepted pair of two offers without product creates a product (a new key);
* an accepted pair with one offer in a product adds the other offer (the key stays);
* an accepted pair joining two products merges them: the older product's key survives, the
  younger becomes its alias;
* an accepted pair that would put two offers of one shop into a product is not merged: it is a
  conflict (the offers involved are listed) for a human to resolve;
* a removed link (a human rejection, or an automatic acceptance withdrawn by re-routing) inside a
  product splits it into the parts still linked by accepted pairs: the part holding the
  product's earliest member keeps the key, every other part of two or more offers becomes a
  product with a new key, lone offers leave. A human rejection of a pair still linked through
  other accepted pairs is a conflict (nothing silently ignored);
* a human acceptance beats automatic ones: when it conflicts only because of automatic links
  of its own offers to an offer of the other offer's shop (the query was auto-accepted to X, a
  validator accepts Y of the same shop), those links are withdrawn instead
  (:func:`human_overrides`) and the human pair applies; the part around the human pair's offer
  keeps the product's key.

A conflict that a validator can settle carries a *question* (``Change.question``): a query
offer and the offers competing for it, at most one of which can be the same product (they are
of one shop, or validators already said they differ). Validation turns it into a conflict row in
the review queue ("which of these is the same product as the query?"); conflicts without a
question (two offers of one shop in an accepted pair, longer chains) stay for admins.

The service (matching/services/loop.py) loads the facts, calls :func:`plan_accept` /
:func:`plan_unlink`, and writes the change with an event.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

NOOP = "noop"
CREATED = "created"
GROWN = "grown"
MERGED = "merged"
SPLIT = "split"
SHRUNK = "shrunk"
CONFLICT = "conflict"


@dataclass(frozen=True)
class ProductView:
    key: str
    created_at: datetime
    members: Mapping[int, Hashable]  # offer pk -> shop
    joined: Mapping[int, datetime] = field(default_factory=dict)  # offer pk -> joined at


@dataclass(frozen=True)
class Change:
    kind: str
    reason: str = ""
    key: str | None = None  # the product changed (survivor of a merge); None: a new product
    add: tuple[int, ...] = ()  # offers joining ``key`` (or the new product)
    absorbed: str | None = None  # merged: this key becomes an alias of ``key``
    parts: tuple[frozenset[int], ...] = ()  # split: new products (two or more offers each)
    removed: frozenset[int] = frozenset()  # offers leaving any product
    offers: tuple[int, ...] = ()  # conflict: the offers involved
    keys: tuple[str, ...] = ()  # conflict: the products involved
    # conflict: (query offer, the offers competing for it) for a conflict row; None: admins only
    question: tuple[int, tuple[int, ...]] | None = None


def _holder(product: ProductView, shop: Hashable, *, other_than: int) -> int | None:
    for offer, s in product.members.items():
        if s == shop and offer != other_than:
            return offer
    return None


def plan_accept(
    *,
    a: int,
    b: int,
    shops: Mapping[int, Hashable],
    product_of: Mapping[int, str],
    products: Mapping[str, ProductView],
) -> Change:
    """What an accepted pair (a, b) does to the products."""
    if a == b:
        return Change(kind=NOOP, reason="an offer matches itself")
    if shops[a] == shops[b]:
        return Change(
            kind=CONFLICT,
            reason=f"both offers are of shop {shops[a]}",
            offers=(a, b),
            keys=tuple(k for k in (product_of.get(a), product_of.get(b)) if k),
        )
    pa, pb = product_of.get(a), product_of.get(b)
    if pa is None and pb is None:
        return Change(kind=CREATED, reason="new accepted pair", add=(a, b))
    if pa == pb:
        return Change(kind=NOOP, key=pa, reason="already in the same product")
    if pa is None or pb is None:
        key = pa or pb
        newcomer = a if pa is None else b
        product = products[key]
        clash = _holder(product, shops[newcomer], other_than=newcomer)
        if clash is not None:
            anchor = b if newcomer == a else a
            return Change(
                kind=CONFLICT,
                reason=f"product {key} already holds offer {clash} of shop {shops[newcomer]}",
                offers=(a, b, clash),
                keys=(key,),
                question=(anchor, tuple(sorted((newcomer, clash)))),
            )
        return Change(kind=GROWN, key=key, reason="accepted pair adds an offer", add=(newcomer,))
    p, q = products[pa], products[pb]
    clashes = sorted(
        (x, y) for x, sx in p.members.items() for y, sy in q.members.items() if sx == sy
    )
    if clashes:
        involved = tuple(dict.fromkeys([a, b, *[o for pair in clashes for o in pair]]))
        x = _holder(p, shops[b], other_than=b)  # a's product holds an offer of b's shop
        y = _holder(q, shops[a], other_than=a)  # b's product holds an offer of a's shop
        question = None
        if x is not None:
            question = (a, tuple(sorted((b, x))))
        elif y is not None:
            question = (b, tuple(sorted((a, y))))
        return Change(
            kind=CONFLICT,
            reason=f"products {pa} and {pb} both hold an offer of shop {p.members[clashes[0][0]]}",
            offers=involved,
            keys=(pa, pb),
            question=question,
        )
    older, younger = sorted((p, q), key=lambda v: (v.created_at, v.key))
    return Change(
        kind=MERGED,
        key=older.key,
        absorbed=younger.key,
        add=tuple(sorted(younger.members)),
        reason=f"accepted pair merges {younger.key} into the older {older.key}",
    )


def components(members: Iterable[int], edges: Iterable[tuple[int, int]]) -> list[set[int]]:
    """Connected parts of ``members`` under ``edges`` (edges outside members are ignored)."""
    parent = {m: m for m in members}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for x, y in edges:
        if x in parent and y in parent:
            rx, ry = find(x), find(y)
            if rx != ry:
                parent[max(rx, ry)] = min(rx, ry)
    groups: dict[int, set[int]] = {}
    for m in parent:
        groups.setdefault(find(m), set()).add(m)
    return list(groups.values())


def _neighbours(x: int, edges: Iterable[tuple[int, int]]) -> set[int]:
    return {v for u, v in edges if u == x} | {u for u, v in edges if v == x}


def plan_unlink(
    *,
    a: int,
    b: int,
    product: ProductView,
    edges: Iterable[tuple[int, int]],
    human: bool,
    keep: int | None = None,
) -> Change:
    """The link a-b inside ``product`` is gone; ``edges``: the product's accepted pairs left.

    ``keep``: an offer about to be joined by another one (a human acceptance that overrides
    this link, a decided conflict row): its part keeps the key and stays even when alone."""
    if a not in product.members or b not in product.members:
        return Change(kind=NOOP, reason="the offers are not both in this product")
    edges = list(edges)
    parts = components(product.members, edges)
    part_of = {m: i for i, part in enumerate(parts) for m in part}
    if part_of[a] == part_of[b]:
        if human:
            common = sorted(_neighbours(a, edges) & _neighbours(b, edges))
            return Change(
                kind=CONFLICT,
                key=product.key,
                reason=(
                    f"validators rejected a pair of product {product.key} that other accepted "
                    "pairs still link"
                ),
                offers=(a, b),
                keys=(product.key,),
                # a and b both linked to one offer: which of them is it? (validators said they
                # differ, so at most one is); a longer chain has no single such question
                question=(common[0], tuple(sorted((a, b)))) if common else None,
            )
        return Change(kind=NOOP, key=product.key, reason="still linked by other accepted pairs")

    def seniority(m: int) -> tuple:
        return (product.joined.get(m) or product.created_at, m)

    anchor = keep if keep in product.members else min(product.members, key=seniority)
    kept = parts[part_of[anchor]]
    others = [p for p in parts if p is not kept]
    new_parts = tuple(frozenset(p) for p in sorted(others, key=min) if len(p) >= 2)
    removed = {m for p in others if len(p) < 2 for m in p}
    if len(kept) < 2 and anchor != keep:
        removed |= kept
    why = "validators rejected" if human else "automatic acceptance withdrawn for"
    return Change(
        kind=SPLIT if new_parts else SHRUNK,
        key=product.key,
        parts=new_parts,
        removed=frozenset(removed),
        reason=f"{why} the pair {a}-{b}",
    )


def human_overrides(
    *,
    a: int,
    b: int,
    shops: Mapping[int, Hashable],
    product_of: Mapping[int, str],
    products: Mapping[str, ProductView],
    edges: Iterable[tuple[int, int]],
    automatic: Iterable[tuple[int, int]],
) -> tuple[tuple[int, int], ...]:
    """The automatic links to withdraw so that a *human* acceptance of (a, b) applies.

    For each offer e of the pair, the offers of its product from the other offer's shop (its
    rivals) must go: a rival linked to e directly by an automatic acceptance is cut loose. The
    links are returned (as (smaller pk, larger pk)) only if, once they are gone, the pair applies
    without a conflict (the rivals are no longer linked to e through other accepted pairs, and
    nothing else clashes); otherwise ``()``: the conflict stands and goes to review.

    ``edges``: accepted links among the members of the products involved (smaller pk first);
    ``automatic``: those of them whose deciding verdict is automatic.
    """
    if a == b or shops[a] == shops[b]:
        return ()
    edges = [(min(e), max(e)) for e in edges]
    auto = {(min(e), max(e)) for e in automatic}
    cut: list[tuple[int, int]] = []
    new_products = dict(products)
    new_product_of = dict(product_of)
    for e, f in ((a, b), (b, a)):
        key = product_of.get(e)
        if key is None or key == product_of.get(f):
            continue
        prod = products[key]
        rivals = [r for r, s in prod.members.items() if s == shops[f] and r != f]
        mine = [(min(e, r), max(e, r)) for r in rivals if (min(e, r), max(e, r)) in auto]
        if not mine:
            continue
        left = [x for x in edges if x not in mine]
        part = next(p for p in components(prod.members, left) if e in p)
        cut.extend(mine)
        new_products[key] = ProductView(
            key=key,
            created_at=prod.created_at,
            members={m: s for m, s in prod.members.items() if m in part},
            joined={m: t for m, t in prod.joined.items() if m in part},
        )
        for m in prod.members:
            if m not in part:
                new_product_of.pop(m, None)
    if not cut:
        return ()
    after = plan_accept(a=a, b=b, shops=shops, product_of=new_product_of, products=new_products)
    return tuple(cut) if after.kind != CONFLICT else ()
