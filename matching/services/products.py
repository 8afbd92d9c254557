"""Writes of product clusters: an accepted pair joins, grows or merges products; a link that is
gone splits them; what cannot be absorbed becomes a ProductConflict.

Rules: matching/products.py (pure). Callers hold the transaction and the shop locks
(:func:`lock_shops`, taken by matching/services/loop.py before any verdict is applied).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime

from django.db.models import Q

from core import bulk
from matching import loop_selectors
from matching import products as prules
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


def new_product_key() -> str:
    return "P" + secrets.token_hex(6).upper()


def lock_shops(offer_ids: Iterable[int]) -> None:
    shop_ids = sorted({s for (s,) in bulk.rows_by_ids(Offer, offer_ids, ["shop_id"])})
    list(Shop.objects.select_for_update().filter(pk__in=shop_ids).order_by("pk").values_list("pk"))


def _view(product: Product) -> prules.ProductView:
    members = list(ProductMembership.objects.filter(product=product))
    return prules.ProductView(
        key=product.key,
        created_at=product.created_at,
        members={m.offer_id: m.shop_id for m in members},
        joined={m.offer_id: m.joined_at for m in members},
    )


def _links(member_ids: Iterable[int]) -> dict[tuple[int, int], vrules.Verdict]:
    """The strongest verdict of every pair among these offers (a superseded one counts as its
    implicit human rejection: matching.verdicts.strongest_by_pair)."""
    ids = list(member_ids)
    facts = [
        loop_selectors.verdict_fact(v)
        for v in PairVerdict.objects.filter(
            query_offer_id__in=ids, candidate_offer_id__in=ids
        ).select_related("superseded_by")
    ]
    return vrules.strongest_by_pair(facts)


def strongest_verdict(a: int, b: int) -> PairVerdict | None:
    """The verdict that links or separates a and b now (either orientation); None also when a
    superseded verdict's implicit rejection separates them (no stored verdict says so)."""
    best = _links([a, b]).get((min(a, b), max(a, b)))
    if best is None or best.superseded:
        return None
    return PairVerdict.objects.get(pk=best.pk)


def _pair_edges(member_ids: Iterable[int]) -> list[tuple[int, int]]:
    """Accepted links among these offers: pairs whose strongest verdict accepts."""
    return [pair for pair, v in _links(member_ids).items() if v.verdict == vrules.ACCEPTED]


def _event(
    product: Product, kind: str, *, reason: str, verdict: PairVerdict | None, now, **details
):
    ProductEvent.objects.create(
        product=product, kind=kind, at=now, reason=reason[:500], verdict=verdict, details=details
    )


def _conflict(change: prules.Change, *, verdict: PairVerdict, now: datetime) -> ProductConflict:
    """Keep the clash as a ProductConflict (one per verdict and clash: applying the verdict
    again while the same conflict is open, e.g. an undo restoring it, adds nothing)."""
    query, candidates = change.question or (None, ())
    for open_one in ProductConflict.objects.filter(
        verdict=verdict, status=ProductConflict.Status.OPEN
    ):
        if (
            open_one.query_offer_id == query
            and sorted(open_one.candidate_ids) == sorted(candidates)
            and sorted(open_one.offer_ids) == sorted(change.offers)
        ):
            return open_one
    conflict = ProductConflict.objects.create(
        verdict=verdict,
        reason=change.reason[:500],
        offer_ids=list(change.offers),
        product_keys=list(change.keys),
        created_at=now,
        query_offer_id=query,
        candidate_ids=list(candidates),
    )
    for product in Product.objects.filter(key__in=change.keys):
        _event(
            product,
            ProductEvent.Kind.CONFLICT,
            reason=change.reason,
            verdict=verdict,
            now=now,
            conflict=conflict.pk,
            offers=list(change.offers),
        )
    return conflict


def _override_automatic(
    verdict: PairVerdict,
    *,
    shops: dict[int, int],
    product_of: dict[int, str],
    views: dict[str, prules.ProductView],
    now: datetime,
) -> bool:
    """A human acceptance that conflicts with automatic links: withdraw them (superseded by this
    verdict, the rivals unlinked with an event) when that lets it apply
    (matching.products.human_overrides). Returns whether anything was withdrawn."""
    a, b = verdict.query_offer_id, verdict.candidate_offer_id
    members = {a, b}.union(*(v.members for v in views.values()))
    links = _links(members)
    edges = [p for p, v in links.items() if v.verdict == vrules.ACCEPTED]
    cut = prules.human_overrides(
        a=a,
        b=b,
        shops={**shops, **{m: s for v in views.values() for m, s in v.members.items()}},
        product_of=product_of,
        products=views,
        edges=edges,
        automatic=[p for p in edges if links[p].source == vrules.AUTO],
    )
    for lo, hi in cut:
        pair = Q(query_offer_id=lo, candidate_offer_id=hi)
        autos = PairVerdict.objects.filter(
            pair | Q(query_offer_id=hi, candidate_offer_id=lo),
            source=PairVerdict.Source.AUTO,
            verdict=PairVerdict.Verdict.ACCEPTED,
            superseded_by__isnull=True,
        )
        withdrawn = sorted(autos.values_list("pk", flat=True))
        autos.update(superseded_by=verdict, superseded_at=now)
        unlink(
            lo,
            hi,
            human=False,
            verdict=verdict,
            now=now,
            keep=lo if lo in (a, b) else hi,
            reason=(
                f"validators accepted the pair {a}-{b}: the automatic acceptance of {lo}-{hi} "
                "it conflicts with is withdrawn"
            ),
            withdrawn=withdrawn,
        )
    return bool(cut)


def apply_accept(verdict: PairVerdict, *, now: datetime, override: bool = True) -> str:
    a, b = verdict.query_offer_id, verdict.candidate_offer_id
    shops = dict(Offer.objects.filter(pk__in=[a, b]).values_list("pk", "shop_id"))
    memberships = {
        m.offer_id: m
        for m in ProductMembership.objects.filter(offer_id__in=[a, b]).select_related("product")
    }
    product_of = {o: m.product.key for o, m in memberships.items()}
    products = {m.product.key: m.product for m in memberships.values()}
    for p in Product.objects.filter(key__in=products).select_for_update().order_by("pk"):
        products[p.key] = p
    views = {k: _view(p) for k, p in products.items()}
    change = prules.plan_accept(a=a, b=b, shops=shops, product_of=product_of, products=views)
    source = verdict.source
    if (
        change.kind == prules.CONFLICT
        and override
        and source == PairVerdict.Source.HUMAN
        and _override_automatic(verdict, shops=shops, product_of=product_of, views=views, now=now)
    ):
        return apply_accept(verdict, now=now, override=False)
    if change.kind == prules.CREATED:
        product = Product.objects.create(key=new_product_key(), created_at=now)
        ProductMembership.objects.bulk_create(
            [
                ProductMembership(
                    offer_id=o,
                    shop_id=shops[o],
                    product=product,
                    decided_by=source,
                    joined_at=now,
                    updated_at=now,
                )
                for o in change.add
            ]
        )
        _event(
            product,
            ProductEvent.Kind.CREATED,
            reason=change.reason,
            verdict=verdict,
            now=now,
            offers=list(change.add),
        )
    elif change.kind == prules.GROWN:
        product = products[change.key]
        (o,) = change.add
        ProductMembership.objects.create(
            offer_id=o,
            shop_id=shops[o],
            product=product,
            decided_by=source,
            joined_at=now,
            updated_at=now,
        )
        _event(
            product,
            ProductEvent.Kind.GROWN,
            reason=change.reason,
            verdict=verdict,
            now=now,
            offers=[o],
        )
    elif change.kind == prules.MERGED:
        survivor, absorbed = products[change.key], products[change.absorbed]
        ProductMembership.objects.filter(product=absorbed).update(product=survivor, updated_at=now)
        Product.objects.filter(alias_of=absorbed).update(alias_of=survivor)
        absorbed.alias_of = survivor
        absorbed.save(update_fields=["alias_of"])
        for p in (survivor, absorbed):
            _event(
                p,
                ProductEvent.Kind.MERGED,
                reason=change.reason,
                verdict=verdict,
                now=now,
                survivor=survivor.key,
                absorbed=absorbed.key,
                offers=list(change.add),
            )
    elif change.kind == prules.CONFLICT:
        _conflict(change, verdict=verdict, now=now)
    elif change.kind == prules.NOOP and source == PairVerdict.Source.HUMAN and change.key:
        # humans confirmed a pair already in one product: its offers are now decided by humans
        ProductMembership.objects.filter(offer_id__in=[a, b]).exclude(decided_by=source).update(
            decided_by=source, updated_at=now
        )
    return change.kind


def unlink(
    a: int,
    b: int,
    *,
    human: bool,
    verdict: PairVerdict | None,
    now: datetime,
    keep: int | None = None,
    reason: str | None = None,
    **details,
) -> str:
    """The link a-b may be gone (a rejection, a withdrawn auto verdict): split if it was.
    ``keep``: an offer about to be joined by another (its part keeps the key, even alone)."""
    ma = ProductMembership.objects.filter(offer_id=a).select_related("product").first()
    mb = ProductMembership.objects.filter(offer_id=b).first()
    if ma is None or mb is None or ma.product_id != mb.product_id:
        return prules.NOOP
    product = Product.objects.select_for_update().get(pk=ma.product_id)
    view = _view(product)
    edges = [e for e in _pair_edges(view.members) if set(e) != {a, b}]
    if (min(a, b), max(a, b)) in _pair_edges([a, b]):
        return prules.NOOP  # the pair's strongest verdict still accepts
    change = prules.plan_unlink(a=a, b=b, product=view, edges=edges, human=human, keep=keep)
    if change.kind == prules.CONFLICT:
        if verdict is not None:
            _conflict(change, verdict=verdict, now=now)
        return change.kind
    if change.kind == prules.NOOP:
        return change.kind
    why = reason or change.reason
    ProductMembership.objects.filter(offer_id__in=change.removed).delete()
    new_keys = []
    for part in change.parts:
        new = Product.objects.create(key=new_product_key(), created_at=now)
        new_keys.append(new.key)
        ProductMembership.objects.filter(offer_id__in=part).update(product=new, updated_at=now)
        _event(
            new,
            ProductEvent.Kind.CREATED,
            reason=f"split off {product.key}: {why}",
            verdict=verdict,
            now=now,
            offers=sorted(part),
            split_from=product.key,
        )
    kind = ProductEvent.Kind.SPLIT if change.kind == prules.SPLIT else ProductEvent.Kind.SHRUNK
    _event(
        product,
        kind,
        reason=why,
        verdict=verdict,
        now=now,
        removed=sorted(change.removed),
        new_keys=new_keys,
        **details,
    )
    return change.kind


def drop_if_alone(offer_id: int, *, verdict: PairVerdict | None, now: datetime) -> bool:
    """An offer kept alone in its product (``unlink(keep=...)``) that nothing joined leaves it."""
    m = ProductMembership.objects.filter(offer_id=offer_id).select_related("product").first()
    if m is None or ProductMembership.objects.filter(product_id=m.product_id).count() > 1:
        return False
    m.delete()
    _event(
        m.product,
        ProductEvent.Kind.SHRUNK,
        reason=f"offer {offer_id} was left alone: nothing joined it",
        verdict=verdict,
        now=now,
        removed=[offer_id],
        new_keys=[],
    )
    return True
