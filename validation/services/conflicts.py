"""Conflict rows: product conflicts go to the review queue (issue 9).

An accepted pair that would break a product rule is kept by matching as a ProductConflict; one
that validators can settle carries a question (a query offer and the offers competing for it,
matching.loop_selectors.open_conflict_questions). Routing a run (services/routing.py) calls
:func:`sync_conflict_rows`: each open question without a row gets one conflict row in that run
(``kind=conflict``, at most one per conflict: re-routing creates no duplicate), and open
conflict rows whose conflict was resolved or withdrawn meanwhile are closed.

On the page a conflict row is a review row: the query offer, the competing offers in a
per-validator shuffled order (keys 1..n, 0 = none of them), nothing telling which pair was
accepted automatically or with which score. It takes judgements and is decided by the same
aggregation rule; :func:`feed_conflict_decision` (called by services/review.py when the row is
recomputed) hands the decision to matching (matching.services.conflicts), which records the
human verdicts and updates the products.
"""

from __future__ import annotations

from datetime import datetime

from matching import loop_selectors
from matching import selectors as matching_selectors
from matching.models import MatchRun
from matching.services import conflicts as conflict_service
from validation import aggregation, routing_plan
from validation.models import ReviewLease, ReviewRow, ReviewSettings, Routing


def _truth(
    *, query: int, candidates: tuple[int, ...], product_ids: dict[int, str | None]
) -> tuple[str, int | None]:
    return routing_plan.truth_of(
        query_product_id=product_ids.get(query),
        candidates=[
            routing_plan.CandidateFacts(offer_id=c, product_id=product_ids.get(c), similarity=0.0)
            for c in candidates
        ],
    )


def sync_conflict_rows(*, run: MatchRun, routing: Routing | None = None) -> dict[str, int]:
    """Create a conflict row in ``run`` for every open conflict question without one; close the
    open conflict rows whose conflict is no longer open. Returns counts (created, closed,
    open_admin_only: open conflicts without a question, left to admins)."""
    cfg = ReviewSettings.load()
    questions = loop_selectors.open_conflict_questions()
    open_ids = {q.conflict_id for q in questions}
    have = set(
        ReviewRow.objects.filter(conflict__isnull=False).values_list("conflict_id", flat=True)
    )
    new = [q for q in questions if q.conflict_id not in have]
    product_ids = matching_selectors.product_ids_of(
        {o for q in new for o in (q.query_offer_id, *q.candidate_ids)}
    )
    needed = aggregation.needed_for_new_row(
        rule=cfg.aggregation_rule,
        required=cfg.judgements_per_row,
        max_extra=cfg.max_extra_judgements,
        early=cfg.early_decision,
    )
    rows = []
    for q in new:
        truth, truth_offer = _truth(
            query=q.query_offer_id, candidates=q.candidate_ids, product_ids=product_ids
        )
        rows.append(
            ReviewRow(
                run=run,
                routing=routing,
                query_offer_id=q.query_offer_id,
                # by offer pk: the order tells nothing about which pair was accepted first (and
                # the page shuffles them per validator anyway)
                candidate_ids=sorted(q.candidate_ids),
                top1_similarity=0.0,  # no score: nothing on or behind the page hints an answer
                kind=ReviewRow.Kind.CONFLICT,
                truth=truth,
                truth_offer_id=truth_offer,
                judgements_needed=needed,
                conflict_id=q.conflict_id,
            )
        )
    ReviewRow.objects.bulk_create(rows, batch_size=1000)
    stale = list(
        ReviewRow.objects.filter(kind=ReviewRow.Kind.CONFLICT, status=ReviewRow.Status.OPEN)
        .exclude(conflict_id__in=open_ids)
        .values_list("pk", flat=True)
    )
    ReviewRow.objects.filter(pk__in=stale).update(status=ReviewRow.Status.CLOSED)
    ReviewLease.objects.filter(row_id__in=stale).delete()
    counts = loop_selectors.open_conflict_counts()
    return {"created": len(rows), "closed": len(stale), "open_admin_only": counts["admin_only"]}


def feed_conflict_decision(*, row: ReviewRow, outcome: aggregation.Outcome, now: datetime) -> None:
    """A conflict row was recomputed: a decision resolves its conflict (matching records the
    human verdicts and updates the products); no decision (an undo) reopens it."""
    if row.conflict_id is None:  # the conflict was withdrawn meanwhile: nothing to settle
        return
    if outcome.decided:
        conflict_service.resolve_conflict(
            conflict_id=row.conflict_id,
            review_row_id=row.pk,
            run_id=row.run_id,
            choice=int(outcome.choice) if outcome.accepted else None,
            votes_for=outcome.votes_for,
            votes_total=outcome.votes_total,
            now=now,
        )
    else:
        conflict_service.reopen_conflict(conflict_id=row.conflict_id, review_row_id=row.pk, now=now)
