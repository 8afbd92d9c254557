"""Writes of the loop: verdicts remembered across runs and the products they build.

Rules: matching/verdicts.py (reuse, staleness, precedence) and matching/products.py (clusters,
stable keys). Callers: validation's routing (automatic verdicts of a run) and review (human
verdicts of a decided row) call down into this module; matching never imports validation.

Concurrency: every write runs in one transaction that first locks the shops of the offers
involved (``select_for_update``, in pk order), so two verdicts touching the same shops apply one
after the other; the unique constraints (one membership per offer, one offer per shop per
product) back the rules up.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime

from django.db import transaction
from django.utils import timezone

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


def _lock_shops(offer_ids: Iterable[int]) -> None:
    shop_ids = sorted(
        set(Offer.objects.filter(pk__in=set(offer_ids)).values_list("shop_id", flat=True))
    )
    list(Shop.objects.select_for_update().filter(pk__in=shop_ids).order_by("pk").values_list("pk"))


def _view(product: Product) -> prules.ProductView:
    members = list(ProductMembership.objects.filter(product=product))
    return prules.ProductView(
        key=product.key,
        created_at=product.created_at,
        members={m.offer_id: m.shop_id for m in members},
        joined={m.offer_id: m.joined_at for m in members},
    )


def _pair_edges(member_ids: Iterable[int]) -> list[tuple[int, int]]:
    """Accepted links among these offers: pairs whose strongest verdict accepts."""
    ids = list(member_ids)
    facts = [
        loop_selectors.verdict_fact(v)
        for v in PairVerdict.objects.filter(query_offer_id__in=ids, candidate_offer_id__in=ids)
    ]
    return [
        pair for pair, v in vrules.strongest_by_pair(facts).items() if v.verdict == vrules.ACCEPTED
    ]


def _event(
    product: Product, kind: str, *, reason: str, verdict: PairVerdict | None, now, **details
):
    ProductEvent.objects.create(
        product=product, kind=kind, at=now, reason=reason[:500], verdict=verdict, details=details
    )


def _conflict(change: prules.Change, *, verdict: PairVerdict, now: datetime) -> ProductConflict:
    conflict = ProductConflict.objects.create(
        verdict=verdict,
        reason=change.reason[:500],
        offer_ids=list(change.offers),
        product_keys=list(change.keys),
        created_at=now,
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


def _apply_accept(verdict: PairVerdict, *, now: datetime) -> str:
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
    change = prules.plan_accept(
        a=a,
        b=b,
        shops=shops,
        product_of=product_of,
        products={k: _view(p) for k, p in products.items()},
    )
    source = verdict.source
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


def _unlink(a: int, b: int, *, human: bool, verdict: PairVerdict | None, now: datetime) -> str:
    """The link a-b may be gone (a rejection, a withdrawn auto verdict): split if it was."""
    ma = ProductMembership.objects.filter(offer_id=a).select_related("product").first()
    mb = ProductMembership.objects.filter(offer_id=b).first()
    if ma is None or mb is None or ma.product_id != mb.product_id:
        return prules.NOOP
    product = Product.objects.select_for_update().get(pk=ma.product_id)
    view = _view(product)
    edges = [e for e in _pair_edges(view.members) if set(e) != {a, b}]
    if (min(a, b), max(a, b)) in _pair_edges([a, b]):
        return prules.NOOP  # the pair's strongest verdict still accepts
    change = prules.plan_unlink(a=a, b=b, product=view, edges=edges, human=human)
    if change.kind == prules.CONFLICT:
        if verdict is not None:
            _conflict(change, verdict=verdict, now=now)
        return change.kind
    if change.kind == prules.NOOP:
        return change.kind
    ProductMembership.objects.filter(offer_id__in=change.removed).delete()
    new_keys = []
    for part in change.parts:
        new = Product.objects.create(key=new_product_key(), created_at=now)
        new_keys.append(new.key)
        ProductMembership.objects.filter(offer_id__in=part).update(product=new, updated_at=now)
        _event(
            new,
            ProductEvent.Kind.CREATED,
            reason=f"split off {product.key}: {change.reason}",
            verdict=verdict,
            now=now,
            offers=sorted(part),
            split_from=product.key,
        )
    kind = ProductEvent.Kind.SPLIT if change.kind == prules.SPLIT else ProductEvent.Kind.SHRUNK
    _event(
        product,
        kind,
        reason=change.reason,
        verdict=verdict,
        now=now,
        removed=sorted(change.removed),
        new_keys=new_keys,
    )
    return change.kind


def _create_verdicts(
    new: Sequence[vrules.NewVerdict],
    *,
    run_id: int | None,
    review_row_id: int | None,
    votes_for: int,
    votes_total: int,
    now: datetime,
) -> list[PairVerdict]:
    hashes = loop_selectors.offer_hashes(
        [o for v in new for o in (v.query_offer_id, v.candidate_offer_id)]
    )
    missing = {o for v in new for o in (v.query_offer_id, v.candidate_offer_id)} - set(hashes)
    if missing:
        raise ValueError(f"verdicts on offers that do not exist: {sorted(missing)}")
    return PairVerdict.objects.bulk_create(
        [
            PairVerdict(
                query_offer_id=v.query_offer_id,
                candidate_offer_id=v.candidate_offer_id,
                verdict=v.verdict,
                source=v.source,
                run_id=run_id,
                review_row_id=review_row_id,
                votes_for=votes_for,
                votes_total=votes_total,
                similarity=v.similarity,
                query_hash=hashes[v.query_offer_id],
                candidate_hash=hashes[v.candidate_offer_id],
                decided_at=now,
            )
            for v in new
        ],
        batch_size=1000,
    )


def _apply(verdict: PairVerdict, *, now: datetime) -> str:
    if verdict.verdict == PairVerdict.Verdict.ACCEPTED:
        return _apply_accept(verdict, now=now)
    return _unlink(
        verdict.query_offer_id,
        verdict.candidate_offer_id,
        human=verdict.source == PairVerdict.Source.HUMAN,
        verdict=verdict,
        now=now,
    )


def record_verdicts(
    *,
    verdicts: Sequence[vrules.NewVerdict],
    run_id: int | None = None,
    review_row_id: int | None = None,
    votes_for: int = 0,
    votes_total: int = 0,
    now: datetime | None = None,
) -> list[PairVerdict]:
    """Store verdicts (with both offers' current content hashes) and update the products.

    Rejections are applied first, then acceptances, so a decided row that moves a query from
    one candidate to another leaves the old product before joining the new one.
    """
    if not verdicts:
        return []
    now = now or timezone.now()
    with transaction.atomic():
        _lock_shops(o for v in verdicts for o in (v.query_offer_id, v.candidate_offer_id))
        rows = _create_verdicts(
            verdicts,
            run_id=run_id,
            review_row_id=review_row_id,
            votes_for=votes_for,
            votes_total=votes_total,
            now=now,
        )
        for row in sorted(rows, key=lambda r: r.verdict != PairVerdict.Verdict.REJECTED):
            _apply(row, now=now)
    return rows


def record_review_decision(
    *,
    run_id: int,
    review_row_id: int,
    query_offer_id: int,
    shown: Sequence[int],
    choice: int | None,
    votes_for: int,
    votes_total: int,
    now: datetime | None = None,
) -> list[PairVerdict]:
    """A review row was decided: the chosen candidate accepted, the other shown ones rejected.

    Idempotent: recomputing a row to the same outcome records nothing new; a changed outcome
    replaces the row's earlier verdicts (they are withdrawn first).
    """
    new = vrules.verdicts_of_review(query_offer_id=query_offer_id, shown=shown, choice=choice)
    old = PairVerdict.objects.filter(review_row_id=review_row_id, source=PairVerdict.Source.HUMAN)
    if {(v.candidate_offer_id, v.verdict) for v in old} == {
        (v.candidate_offer_id, v.verdict) for v in new
    }:
        return []
    with transaction.atomic():
        withdraw_review_decision(review_row_id=review_row_id, now=now)
        return record_verdicts(
            verdicts=new,
            run_id=run_id,
            review_row_id=review_row_id,
            votes_for=votes_for,
            votes_total=votes_total,
            now=now,
        )


def _withdraw(qs, *, now: datetime) -> int:
    gone = [(v.query_offer_id, v.candidate_offer_id, v.verdict) for v in qs]
    if not gone:
        return 0
    _lock_shops(o for q, c, _ in gone for o in (q, c))
    qs.delete()
    for q, c, verdict in gone:
        if verdict == PairVerdict.Verdict.ACCEPTED:
            _unlink(q, c, human=False, verdict=None, now=now)
    return len(gone)


def withdraw_review_decision(*, review_row_id: int, now: datetime | None = None) -> int:
    """A row is no longer decided (undo): its human verdicts are removed, links they made go."""
    now = now or timezone.now()
    with transaction.atomic():
        return _withdraw(
            PairVerdict.objects.filter(
                review_row_id=review_row_id, source=PairVerdict.Source.HUMAN
            ),
            now=now,
        )


def replace_auto_verdicts(
    *, run_id: int, accepted: Sequence[tuple[int, int, float | None]], now: datetime | None = None
) -> dict[str, int]:
    """The run's automatic acceptances are now exactly ``accepted`` (query, candidate,
    similarity): unchanged pairs are kept (products untouched), withdrawn ones unlinked, new ones
    recorded."""
    now = now or timezone.now()
    want = {(q, c): s for q, c, s in accepted}
    with transaction.atomic():
        have = PairVerdict.objects.filter(run_id=run_id, source=PairVerdict.Source.AUTO)
        have_pairs = {(v.query_offer_id, v.candidate_offer_id): v.pk for v in have}
        n_withdrawn = _withdraw(
            PairVerdict.objects.filter(
                pk__in=[pk for p, pk in have_pairs.items() if p not in want]
            ),
            now=now,
        )
        new = [
            vrules.NewVerdict(
                query_offer_id=q,
                candidate_offer_id=c,
                verdict=vrules.ACCEPTED,
                source=vrules.AUTO,
                similarity=s,
            )
            for (q, c), s in want.items()
            if (q, c) not in have_pairs
        ]
        record_verdicts(verdicts=new, run_id=run_id, now=now)
    return {"added": len(new), "withdrawn": n_withdrawn, "kept": len(want) - len(new)}
