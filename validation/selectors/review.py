"""Review reads: what a validator sees (review page, counters, undo, own feedback)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from matching import selectors as matching_selectors
from matching.models import Offer
from validation import assignment
from validation.models import Judgement, ReviewLease, ReviewRow, ReviewSettings


def slot_order_for(*, row: ReviewRow, validator_id: int) -> list[int]:
    """The order of the row's candidates on this validator's page (slot 1 first)."""
    return assignment.slot_order(
        row_id=row.pk,
        validator_id=validator_id,
        n=len(row.candidate_ids),
        secret=settings.SECRET_KEY,
    )


def _offer_view(offer: Offer, *, show_extras: bool) -> dict:
    images = []
    for img in offer.images.all():
        f = img.preprocessed if img.preprocessed else img.original
        big = img.original if img.original else img.preprocessed
        if f:
            images.append({"url": f.url, "zoom_url": big.url})
    view = {"brand": offer.brand, "title": offer.title, "images": images}
    if show_extras:
        view["price"] = f"{offer.price} {offer.currency}".strip() if offer.price is not None else ""
        view["sizes"] = ", ".join(str(s) for s in offer.sizes or [])
        view["category"] = offer.category
    return view


def review_page(*, lease: ReviewLease, validator: AbstractBaseUser) -> dict:
    """What the review page shows: no ids, ranks, scores or gold flags; candidates shuffled."""
    cfg = ReviewSettings.load()
    row = lease.row
    ids = list(row.candidate_ids)
    offers = matching_selectors.offers_with_images([row.query_offer_id, *ids])
    order = slot_order_for(row=row, validator_id=validator.pk)
    return {
        "lease_id": lease.pk,
        "query": _offer_view(offers[row.query_offer_id], show_extras=cfg.show_price_colour_sizes),
        "slots": [
            {"key": slot, **_offer_view(offers[ids[i]], show_extras=cfg.show_price_colour_sizes)}
            for slot, i in enumerate(order, start=1)
        ],
        "show_extras": cfg.show_price_colour_sizes,
        "expires_at": lease.expires_at,
    }


def validator_counters(*, validator: AbstractBaseUser) -> dict:
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    mine = Judgement.objects.filter(validator=validator, undone_at__isnull=True)
    return {
        "today": mine.filter(created_at__gte=start).count(),
        "total": mine.count(),
        "open_rows": ReviewRow.objects.filter(status=ReviewRow.Status.OPEN).count(),
    }


def can_undo(*, validator: AbstractBaseUser) -> bool:
    cfg = ReviewSettings.load()
    last = (
        Judgement.objects.filter(validator=validator, undone_at__isnull=True)
        .order_by("-created_at", "-id")
        .first()
    )
    return (
        last is not None and (timezone.now() - last.created_at).total_seconds() <= cfg.undo_seconds
    )


def feedback_mistakes(*, validator: AbstractBaseUser, limit: int = 50) -> dict:
    """The validator's own judgements on rows with a known answer where they were wrong."""
    js = (
        Judgement.objects.filter(validator=validator, undone_at__isnull=True)
        .exclude(row__truth=ReviewRow.Truth.UNKNOWN)
        .select_related("row")
        .order_by("-created_at")
    )
    n = correct = 0
    mistakes = []
    for j in js:
        n += 1
        answer = str(j.row.truth_offer_id) if j.row.truth == ReviewRow.Truth.MATCH else "none"
        if j.choice == answer:
            correct += 1
        elif len(mistakes) < limit:
            mistakes.append(j)
    offer_ids = {j.row.query_offer_id for j in mistakes}
    for j in mistakes:
        offer_ids.update(
            int(x) for x in (j.choice, j.row.truth_offer_id) if x not in (None, "none")
        )
    offers = matching_selectors.offers_with_images(offer_ids)

    def view(pk):
        return _offer_view(offers[int(pk)], show_extras=False) if pk not in (None, "none") else None

    items = [
        {
            "when": j.created_at,
            "query": view(j.row.query_offer_id),
            "chosen": view(j.choice),
            "correct": view(j.row.truth_offer_id),
            "kind": "You chose a candidate, but none matches"
            if j.row.truth == ReviewRow.Truth.NONE
            else (
                "You said none matches" if j.choice == "none" else "You chose the wrong candidate"
            ),
        }
        for j in mistakes
    ]
    return {"n": n, "correct": correct, "accuracy": correct / n if n else None, "mistakes": items}
