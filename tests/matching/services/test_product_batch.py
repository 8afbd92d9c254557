"""Accepted verdicts applied in bulk end where apply_accept on each in turn ends."""

from __future__ import annotations

import random

import pytest
from django.utils import timezone

from matching import verdicts as vrules
from matching.models import (
    Offer,
    PairVerdict,
    ProductConflict,
    ProductEvent,
    ProductMembership,
    Shop,
)
from matching.services import loop, product_batch
from matching.services import products as product_writes

pytestmark = pytest.mark.django_db

N_SHOPS, PER_SHOP = 5, 4


def universe(tag: str) -> list[Offer]:
    """N_SHOPS x PER_SHOP offers; offer i is of shop i // PER_SHOP."""
    out = []
    for s in range(N_SHOPS):
        shop = Shop.objects.create(name=f"{tag}-shop-{s}")
        for j in range(PER_SHOP):
            out.append(
                Offer.objects.create(
                    shop=shop, offer_id=f"{tag}-{s}-{j}", title="t", content_hash=f"{tag}{s}{j}"
                )
            )
    return out


def script(seed: int) -> list[tuple[int, int, str]]:
    """Accepted pairs (offer indices, source): creations, growths, merges, same-shop and
    product clashes (conflicts), repeats (no-ops) and human confirmations."""
    rng = random.Random(seed)
    n = N_SHOPS * PER_SHOP
    out = []
    for _ in range(40):
        a, b = rng.randrange(n), rng.randrange(n)
        out.append((a, b, vrules.HUMAN if rng.random() < 0.15 else vrules.AUTO))
    out += out[:5]  # repeats
    return out


def snapshot(offers: list[Offer], verdicts: list[PairVerdict]) -> dict:
    index = {o.pk: i for i, o in enumerate(offers)}
    vindex = {v.pk: i for i, v in enumerate(verdicts)}
    groups: dict[int, set] = {}
    for m in ProductMembership.objects.filter(offer_id__in=index):
        groups.setdefault(m.product_id, set()).add((index[m.offer_id], m.decided_by))
    # a merge of two products made at the same time keeps the one with the smaller (random)
    # key: which offers move is chance in either path, so merges compare by kind only
    events = [
        (
            vindex[e.verdict_id],
            e.kind,
            [] if e.kind == "merged" else sorted(index[o] for o in e.details.get("offers", [])),
        )
        for e in ProductEvent.objects.filter(verdict_id__in=vindex).order_by("pk")
    ]
    conflicts = [
        (vindex[c.verdict_id], sorted(index[o] for o in c.offer_ids), len(c.product_keys))
        for c in ProductConflict.objects.filter(verdict_id__in=vindex).order_by("pk")
    ]
    return {
        "products": sorted(sorted(g) for g in groups.values()),
        "events": events,
        "conflicts": conflicts,
    }


def make_verdicts(offers, pairs) -> list[PairVerdict]:
    return loop._create_verdicts(
        [
            vrules.NewVerdict(
                query_offer_id=offers[a].pk,
                candidate_offer_id=offers[b].pk,
                verdict=vrules.ACCEPTED,
                source=source,
            )
            for a, b, source in pairs
        ],
        run_id=None,
        review_row_id=None,
        votes_for=0,
        votes_total=0,
        now=timezone.now(),
    )


@pytest.mark.parametrize("seed", range(6))
def test_bulk_acceptances_match_one_by_one(seed):
    pairs = script(seed)
    now = timezone.now()
    one, many = universe("one"), universe("many")
    # the first ten applied one by one in both, so the batch also meets stored products
    half = 10
    for offers in (one, many):
        for v in make_verdicts(offers, pairs[:half]):
            product_writes.apply_accept(v, now=now)
    v_one = make_verdicts(one, pairs[half:])
    v_many = make_verdicts(many, pairs[half:])
    kinds_one = [product_writes.apply_accept(v, now=now) for v in v_one]
    kinds_many = product_batch.apply_accepts(v_many, now=now)

    assert kinds_many == kinds_one
    assert set(kinds_one) >= {"created", "grown", "conflict"} or seed != 0
    s_many, s_one = snapshot(many, v_many), snapshot(one, v_one)
    assert s_many["events"] == s_one["events"]
    assert s_many == s_one
    assert snapshot(many, v_many)["products"]  # something was built


def test_bulk_acceptances_cover_every_outcome():
    """The scripts above reach merges and conflicts inside one batch (the fallback path)."""
    kinds = set()
    for seed in range(4):
        offers = universe(f"u{seed}")
        kinds |= set(
            product_batch.apply_accepts(make_verdicts(offers, script(seed)), now=timezone.now())
        )
    assert {"created", "grown", "merged", "conflict", "noop"} <= kinds
