"""Review reads: what a validator sees (review page, counters, undo, own feedback)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db.models import Count, Exists, Max, OuterRef, Q
from django.utils import timezone

from matching import selectors as matching_selectors
from matching.models import Offer
from validation import assignment, feedback_rules
from validation.models import Judgement, ReviewLease, ReviewRow, ReviewSettings, ReviewSkip


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


def review_page(
    *, lease: ReviewLease, validator: AbstractBaseUser, cfg: ReviewSettings | None = None
) -> dict:
    """What the review page shows: no ids, ranks, scores or gold flags; candidates shuffled."""
    cfg = cfg or ReviewSettings.load()
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
        # a conflict row (issue 9) asks the same question; the page only words it for several
        # offers of one product conflict (nothing about which pair was accepted, or any score)
        "conflict": row.kind == ReviewRow.Kind.CONFLICT,
    }


def image_urls(page: dict) -> list[str]:
    """The images of a review page (query first, then the candidates in this validator's slot
    order), to fetch them ahead: URLs only, no ids, ranks or answers."""
    return [im["url"] for offer in (page["query"], *page["slots"]) for im in offer["images"]]


# the "rows open" counter of the review page is read at most this often per server process
OPEN_ROWS_CACHE_SECONDS = 10
_OPEN_ROWS_KEY = "validation:open_rows"


def open_rows_count() -> int:
    """Open review rows in all runs, as the review page shows them: counted at most every
    OPEN_ROWS_CACHE_SECONDS per process (Django's cache), since counting scans the queue
    (45,000 rows at the paper's scale) and the figure only informs."""
    n = cache.get(_OPEN_ROWS_KEY)
    if n is None:
        n = ReviewRow.objects.filter(status=ReviewRow.Status.OPEN).count()
        cache.set(_OPEN_ROWS_KEY, n, OPEN_ROWS_CACHE_SECONDS)
    return n


def validator_counters(*, validator: AbstractBaseUser) -> dict:
    """The validator's judgements today and in all (one statement), and the open rows."""
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    mine = Judgement.objects.filter(validator=validator, undone_at__isnull=True).aggregate(
        total=Count("id"), today=Count("id", filter=Q(created_at__gte=start))
    )
    return {"today": mine["today"], "total": mine["total"], "open_rows": open_rows_count()}


def answer_shown_exists(*, validator: AbstractBaseUser, row_path: str = "") -> Exists:
    """For ReviewRow querysets (or others, with ``row_path`` leading to the row, e.g. "row__"
    for judgements): has the answer to this row, or to a related row
    (feedback_rules.rows_related: they share the query offer or the true match), been shown to
    the validator on their feedback page?"""
    shown = Judgement.objects.filter(validator=validator, revealed_at__isnull=False)
    query, truth = OuterRef(f"{row_path}query_offer_id"), OuterRef(f"{row_path}truth_offer_id")
    return Exists(
        shown.filter(
            Q(row__query_offer_id=query)
            | Q(row__truth_offer_id=query)
            | Q(row__query_offer_id=truth)
            | Q(row__truth_offer_id=truth)
        )
    )


def answer_shown(*, validator: AbstractBaseUser, row: ReviewRow) -> bool:
    return (
        ReviewRow.objects.filter(pk=row.pk)
        .filter(answer_shown_exists(validator=validator))
        .exists()
    )


def can_undo(*, validator: AbstractBaseUser, cfg: ReviewSettings | None = None) -> bool:
    """Whether the validator may undo their latest judgement now (feedback_rules.may_undo).
    One statement: the latest judgement with whether its answer has been shown."""
    cfg = cfg or ReviewSettings.load()
    last = (
        Judgement.objects.filter(validator=validator, undone_at__isnull=True)
        .annotate(shown=answer_shown_exists(validator=validator, row_path="row__"))
        .order_by("-created_at", "-id")
        .values("created_at", "shown")
        .first()
    )
    return (
        last is not None
        and feedback_rules.may_undo(
            judged_at=last["created_at"],
            answer_shown=last["shown"],
            now=timezone.now(),
            undo_seconds=cfg.undo_seconds,
        ).allowed
    )


def _rows_for_viewer(
    *, validator: AbstractBaseUser, judgements: list[Judgement]
) -> tuple[dict[int, feedback_rules.RowForViewer], dict[int, set[int]]]:
    """Every row related to one of the validator's judgements (in any run), as the validator
    can act on it; and offer id -> the pks of those rows whose answer is about that offer."""
    mine = Judgement.objects.filter(validator=validator, undone_at__isnull=True)
    related = ReviewRow.objects.filter(
        Q(query_offer_id__in=mine.values("row__query_offer_id"))
        | Q(query_offer_id__in=mine.values("row__truth_offer_id"))
        | Q(truth_offer_id__in=mine.values("row__query_offer_id"))
        | Q(truth_offer_id__in=mine.values("row__truth_offer_id"))
    )
    last = dict(
        Judgement.objects.filter(row__in=related, undone_at__isnull=True)
        .values_list("row_id")
        .annotate(last=Max("created_at"))
    )
    skipped = set(
        ReviewSkip.objects.filter(validator=validator, row__in=related).values_list(
            "row_id", flat=True
        )
    )
    by_row = {j.row_id: j for j in judgements}
    shown_offers: set[int] = set()
    for j in judgements:
        if j.revealed_at is not None:
            shown_offers |= feedback_rules.answer_offers(
                query_offer_id=j.row.query_offer_id, truth_offer_id=j.row.truth_offer_id
            )
    states: dict[int, feedback_rules.RowForViewer] = {}
    by_offer: dict[int, set[int]] = defaultdict(set)
    for pk, status, query_id, truth_id in related.values_list(
        "pk", "status", "query_offer_id", "truth_offer_id"
    ):
        offers = feedback_rules.answer_offers(query_offer_id=query_id, truth_offer_id=truth_id)
        for o in offers:
            by_offer[o].add(pk)
        j = by_row.get(pk)
        states[pk] = feedback_rules.RowForViewer(
            status=status,
            viewer_judged_at=j.created_at if j else None,
            viewer_answer_shown=bool(offers & shown_offers),
            viewer_skipped=pk in skipped,
            last_judged_at=last.get(pk),
        )
    return states, by_offer


def feedback_mistakes(
    *, validator: AbstractBaseUser, limit: int = 50, now: datetime | None = None
) -> dict:
    """The validator's own judgements on rows with a known answer where they were wrong.

    Only judgements they can no longer change count (feedback_rules.may_show): the others are
    "pending" (counted over all their judgements, known answer or not, so the count does not
    tell which rows are gold). ``revealed_ids``: the judgements whose answers this feedback
    shows (services.show_feedback records that).
    """
    cfg = ReviewSettings.load()
    now = now or timezone.now()
    js = list(
        Judgement.objects.filter(validator=validator, undone_at__isnull=True)
        .select_related("row")
        .order_by("-created_at", "-id")
    )
    states, by_offer = _rows_for_viewer(validator=validator, judgements=js)
    n = correct = pending = 0
    mistakes = []
    revealed_ids = []
    for j in js:
        offers = feedback_rules.answer_offers(
            query_offer_id=j.row.query_offer_id, truth_offer_id=j.row.truth_offer_id
        )
        related = set().union(*(by_offer[o] for o in offers)) - {j.row_id}
        if j.row_id not in states or not feedback_rules.may_show(
            own=states[j.row_id],
            related=[states[pk] for pk in related],
            now=now,
            undo_seconds=cfg.undo_seconds,
        ):
            pending += 1
            continue
        if j.row.truth == ReviewRow.Truth.UNKNOWN:
            continue
        n += 1
        revealed_ids.append(j.pk)
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
    return {
        "n": n,
        "correct": correct,
        "accuracy": correct / n if n else None,
        "mistakes": items,
        "pending": pending,
        "revealed_ids": revealed_ids,
        "undo_seconds": cfg.undo_seconds,
    }
