"""Reads of the loop: verdicts (as pure-rule facts), decided queries, products and the export."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time

from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from core import bulk
from matching import verdicts as vrules
from matching.models import (
    Offer,
    PairVerdict,
    Product,
    ProductConflict,
    ProductEvent,
    ProductMembership,
)

EXPORT_COLUMNS = ("offer_id", "shop", "product_key", "decided_by", "updated_at")


def verdict_fact(v: PairVerdict, *, follow: bool = True) -> vrules.Verdict:
    """The pure-rule fact of a stored verdict; a superseded one carries the fact of the human
    verdict that superseded it (load with ``select_related("superseded_by")``)."""
    by = None
    if follow and v.superseded_by_id is not None:
        by = verdict_fact(v.superseded_by, follow=False)
    return vrules.Verdict(
        pk=v.pk,
        query_offer_id=v.query_offer_id,
        candidate_offer_id=v.candidate_offer_id,
        verdict=v.verdict,
        source=v.source,
        decided_at=v.decided_at,
        query_hash=v.query_hash,
        candidate_hash=v.candidate_hash,
        run_id=v.run_id,
        votes_for=v.votes_for,
        votes_total=v.votes_total,
        similarity=v.similarity,
        superseded=v.superseded_by_id is not None,
        superseded_by=by,
    )


def offer_hashes(offer_ids: Iterable[int]) -> dict[int, str]:
    return dict(bulk.rows_by_ids(Offer, offer_ids, ["id", "content_hash"]))


def verdicts_for_queries(
    query_offer_ids: Iterable[int], *, exclude_auto_of_run: int | None = None
) -> list[vrules.Verdict]:
    """Every stored verdict on pairs of these query offers (``exclude_auto_of_run``: without
    that run's own automatic verdicts, which its routing recomputes; its superseded ones stay:
    they are implicit human rejections that re-routing must not undo)."""
    ids = list(set(query_offer_ids))
    out: list[vrules.Verdict] = []
    for i in range(0, len(ids), 5000):
        qs = PairVerdict.objects.filter(query_offer_id__in=ids[i : i + 5000]).select_related(
            "superseded_by"
        )
        if exclude_auto_of_run is not None:
            qs = qs.exclude(
                Q(run_id=exclude_auto_of_run)
                & Q(source=PairVerdict.Source.AUTO)
                & Q(superseded_by__isnull=True)
            )
        out.extend(verdict_fact(v) for v in qs)
    return out


def current_verdicts_for_queries(
    query_offer_ids: Iterable[int], *, exclude_auto_of_run: int | None = None
) -> dict[tuple[int, int], vrules.Verdict]:
    facts = verdicts_for_queries(query_offer_ids, exclude_auto_of_run=exclude_auto_of_run)
    return vrules.current_verdicts(facts, hashes=offer_hashes(vrules.offers_of(facts)))


def decided_query_offers(query_offer_ids: Iterable[int]) -> set[int]:
    """Query offers with a valid decision (``match --new-only`` skips them)."""
    return vrules.decided_queries(current_verdicts_for_queries(query_offer_ids))


@dataclass(frozen=True)
class AutoAcceptance:
    """An automatic acceptance of a pair (as stored: the run's query, its candidate) and, when
    a human verdict superseded it (an acceptance of a conflicting pair, or a rejection of this
    one), that verdict's pair (external offer ids), review row and verdict."""

    query_offer_id: int
    candidate_offer_id: int
    run_id: int | None
    superseded_by_id: int | None = None
    superseded_at: datetime | None = None
    overruling_pair: tuple[str, str] | None = None
    overruling_row_id: int | None = None
    overruling_verdict: str | None = None  # accepted (another pair) or rejected (this pair)


def pairs_superseded_by_row(review_row_id: int) -> set[tuple[int, int]]:
    """The (query, candidate) pairs of automatic acceptances that this review row's human
    verdicts superseded (validation refreshes the run decisions standing on them)."""
    return set(
        PairVerdict.objects.filter(
            source=PairVerdict.Source.AUTO, superseded_by__review_row_id=review_row_id
        ).values_list("query_offer_id", "candidate_offer_id")
    )


def auto_acceptances(pairs: Iterable[tuple[int, int]]) -> list[AutoAcceptance]:
    """Every automatic acceptance of these pairs (either orientation), superseded or not."""
    pairs = {(min(p), max(p)) for p in pairs}
    if not pairs:
        return []
    ids = {o for p in pairs for o in p}
    out = []
    for v in PairVerdict.objects.filter(
        source=PairVerdict.Source.AUTO,
        verdict=PairVerdict.Verdict.ACCEPTED,
        query_offer_id__in=ids,
        candidate_offer_id__in=ids,
    ).select_related("superseded_by__query_offer", "superseded_by__candidate_offer"):
        q, c = v.query_offer_id, v.candidate_offer_id
        if (min(q, c), max(q, c)) not in pairs:
            continue
        by = v.superseded_by
        out.append(
            AutoAcceptance(
                query_offer_id=v.query_offer_id,
                candidate_offer_id=v.candidate_offer_id,
                run_id=v.run_id,
                superseded_by_id=v.superseded_by_id,
                superseded_at=v.superseded_at,
                overruling_pair=None
                if by is None
                else (by.query_offer.offer_id, by.candidate_offer.offer_id),
                overruling_row_id=None if by is None else by.review_row_id,
                overruling_verdict=None if by is None else by.verdict,
            )
        )
    return out


@dataclass(frozen=True)
class ConflictQuestion:
    """An open product conflict validators can settle: which of ``candidate_ids`` (offer pks)
    is the same product as ``query_offer_id`` (at most one can be)."""

    conflict_id: int
    query_offer_id: int
    candidate_ids: tuple[int, ...]


def open_conflict_questions() -> list[ConflictQuestion]:
    """Open conflicts with a question, oldest first (conflicts without one are for admins)."""
    return [
        ConflictQuestion(conflict_id=pk, query_offer_id=q, candidate_ids=tuple(int(c) for c in cs))
        for pk, q, cs in ProductConflict.objects.filter(
            status=ProductConflict.Status.OPEN, query_offer__isnull=False
        )
        .order_by("created_at", "id")
        .values_list("pk", "query_offer_id", "candidate_ids")
        if len(cs) >= 2
    ]


def open_conflict_counts() -> dict[str, int]:
    """Open conflicts: with a question (for review rows), and for admins only."""
    qs = ProductConflict.objects.filter(status=ProductConflict.Status.OPEN)
    with_question = len(open_conflict_questions())
    return {"with_question": with_question, "admin_only": qs.count() - with_question}


def product_by_key(key: str) -> Product:
    """The product a key names, following aliases (a merged product's key names the survivor)."""
    product = Product.objects.get(key=key)
    seen = set()
    while product.alias_of_id is not None and product.pk not in seen:
        seen.add(product.pk)
        product = product.alias_of
    return product


def _feed_products() -> QuerySet[Product]:
    """Products annotated with ``updated_at``, their latest membership change (an offer joined
    or moved in, was confirmed by validators, or left: a split or shrink event), with their
    memberships (offer, shop; in the export's order: shop name, offer id) and the keys merged
    into them (``aliases``) prefetched."""
    joined = (
        ProductMembership.objects.filter(product=OuterRef("pk"))
        .order_by("-updated_at")
        .values("updated_at")[:1]
    )
    left = (
        ProductEvent.objects.filter(
            product=OuterRef("pk"),
            kind__in=[ProductEvent.Kind.SPLIT, ProductEvent.Kind.SHRUNK],
        )
        .order_by("-at")
        .values("at")[:1]
    )
    # (GREATEST of a NULL is NULL on SQLite, skipped on PostgreSQL: coalesce both sides)
    return (
        Product.objects.annotate(feed_joined=Subquery(joined), feed_left=Subquery(left))
        .annotate(
            updated_at=Greatest(
                Coalesce("feed_joined", "feed_left"), Coalesce("feed_left", "feed_joined")
            )
        )
        .prefetch_related(
            Prefetch(
                "members",
                queryset=ProductMembership.objects.select_related("offer", "shop").order_by(
                    "shop__name", "offer__offer_id"
                ),
            ),
            Prefetch("aliases", queryset=Product.objects.order_by("key")),
        )
    )


def products_feed(
    *, shop: str | None = None, updated_since: datetime | None = None
) -> QuerySet[Product]:
    """The surviving products (aliases are not listed), each with all its offers, in a stable
    order: ``updated_at`` (latest membership change), then id. A product all of whose offers
    left is listed with none (so a consumer polling by ``updated_since`` learns it is gone).

    ``shop``: products holding an offer of this shop (by name; all their offers are listed).
    ``updated_since``: products with a membership change at or after this time.
    """
    qs = _feed_products().filter(alias_of__isnull=True, updated_at__isnull=False)
    if shop is not None:
        qs = qs.filter(
            pk__in=ProductMembership.objects.filter(shop__name=shop).values("product_id")
        )
    if updated_since is not None:
        qs = qs.filter(updated_at__gte=updated_since)
    return qs.order_by("updated_at", "id")


def feed_product_by_key(key: str) -> Product:
    """The product a key names, following aliases, as the products feed shows it."""
    return _feed_products().get(pk=product_by_key(key).pk)


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def export_rows(
    *, since: date | datetime | None = None, shop: str | None = None
) -> Iterator[tuple]:
    """Rows of the product export (EXPORT_COLUMNS), one per offer in a product, by key."""
    qs = ProductMembership.objects.select_related("offer", "shop", "product")
    if since is not None:
        start = since if isinstance(since, datetime) else _day_start(since)
        qs = qs.filter(updated_at__gte=start)
    if shop is not None:
        qs = qs.filter(shop__name=shop)
    for m in qs.order_by("product__key", "shop__name", "offer__offer_id").iterator(chunk_size=2000):
        yield (
            m.offer.offer_id,
            m.shop.name,
            m.product.key,
            m.decided_by,
            m.updated_at.isoformat(timespec="seconds"),
        )
