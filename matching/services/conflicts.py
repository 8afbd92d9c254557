"""Writes of decided conflict rows: validators answered a ProductConflict's question.

A conflict with a question (matching/products.py: ``Change.question``) asks which of the
competing offers is the same product as the query offer. Validation puts it in the review
queue as a conflict row and, once the row is decided, calls :func:`resolve_conflict`: the
chosen offer is accepted with the query, every other shown offer rejected (all of them for
"none"), as human verdicts of that row, through the usual product rules (the query keeps its
product and key when the chosen offer joins it; rejected offers leave or split off with new
keys; every change a ProductEvent). Each pair is recorded the way it is already stored, so the
next run's reuse finds the verdict for its query (matching/verdicts.py: oriented).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from matching import verdicts as vrules
from matching.models import PairVerdict, ProductConflict
from matching.services import loop


class ConflictError(ValueError):
    """The conflict cannot take this decision (it has no question, or the offer is not in it)."""


def _stored_pairs(query: int, others: Iterable[int]) -> set[tuple[int, int]]:
    others = list(others)
    return set(
        PairVerdict.objects.filter(
            Q(query_offer_id=query, candidate_offer_id__in=others)
            | Q(query_offer_id__in=others, candidate_offer_id=query)
        ).values_list("query_offer_id", "candidate_offer_id")
    )


def resolve_conflict(
    *,
    conflict_id: int,
    review_row_id: int,
    run_id: int | None,
    choice: int | None,
    votes_for: int,
    votes_total: int,
    now: datetime | None = None,
) -> list[PairVerdict]:
    """A conflict row was decided: ``choice`` (an offer among the conflict's candidates, or None
    for "none of them") is recorded as the row's human verdicts and the conflict is resolved.

    Idempotent: the same outcome again records nothing; a changed outcome replaces the row's
    earlier verdicts (withdrawn first, as for review rows)."""
    now = now or timezone.now()
    with transaction.atomic():
        conflict = ProductConflict.objects.select_for_update().get(pk=conflict_id)
        if conflict.query_offer_id is None:
            raise ConflictError(f"conflict #{conflict.pk} has no question for validators")
        query, shown = conflict.query_offer_id, [int(c) for c in conflict.candidate_ids]
        try:
            new = vrules.verdicts_of_review(query_offer_id=query, shown=shown, choice=choice)
        except ValueError as exc:
            raise ConflictError(str(exc)) from exc
        new = vrules.oriented(new, existing=_stored_pairs(query, shown))
        old = PairVerdict.objects.filter(
            review_row_id=review_row_id, source=PairVerdict.Source.HUMAN
        )
        same = {(v.query_offer_id, v.candidate_offer_id, v.verdict) for v in old} == {
            (v.query_offer_id, v.candidate_offer_id, v.verdict) for v in new
        }
        rows: list[PairVerdict] = []
        if not same:
            loop.withdraw_review_decision(review_row_id=review_row_id, now=now)
            rows = loop.record_verdicts(
                verdicts=new,
                run_id=run_id,
                review_row_id=review_row_id,
                votes_for=votes_for,
                votes_total=votes_total,
                now=now,
                keep=query if choice is not None else None,
            )
        if conflict.status != ProductConflict.Status.RESOLVED or not same:
            conflict.status = ProductConflict.Status.RESOLVED
            conflict.resolved_at = now
            conflict.resolved_by_row_id = review_row_id
            conflict.resolution = (
                f"validators: offer {choice} is the same product as offer {query}"
                if choice is not None
                else f"validators: none of the offers is the same product as offer {query}"
            )
            conflict.save(
                update_fields=["status", "resolved_at", "resolved_by_row_id", "resolution"]
            )
    return rows


def reopen_conflict(*, conflict_id: int, review_row_id: int, now: datetime | None = None) -> int:
    """The conflict row is no longer decided (an undo): its verdicts are withdrawn (overridden
    automatic acceptances count again) and the conflict is open again."""
    now = now or timezone.now()
    with transaction.atomic():
        # open first: the acceptances the verdicts had overruled apply again and meet it
        ProductConflict.objects.filter(pk=conflict_id, resolved_by_row_id=review_row_id).update(
            status=ProductConflict.Status.OPEN,
            resolved_at=None,
            resolved_by_row_id=None,
            resolution="",
        )
        return loop.withdraw_review_decision(review_row_id=review_row_id, now=now)
