"""Review writes: judgements, undo, feedback, skip, and the recomputed decision of a row
(leases are handed out and checked in ``validation.services.leasing``).

Locking: every change to a ReviewRow's judgements or leases happens in a transaction that holds
that row's lock (``SELECT ... FOR UPDATE``; handing out rows uses ``SKIP LOCKED`` so concurrent
validators never wait on each other). Per-validator actions (lease, undo) first lock the
validator's user row, so two tabs of one validator are serialised. Lock order: user, then row.
On SQLite Django ignores ``select_for_update``; the embedded default opens every transaction
with ``BEGIN IMMEDIATE`` (settings), which serialises writers, so the same invariants hold.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from matching import selectors as matching_selectors
from matching.services import loop as loop_service
from validation import aggregation, assignment, feedback_rules
from validation.models import (
    Decision,
    Judgement,
    ReviewLease,
    ReviewRow,
    ReviewSettings,
    ReviewSkip,
)
from validation.selectors import review as review_selectors
from validation.services import withdrawals
from validation.services.conflicts import feed_conflict_decision
from validation.services.leasing import (
    ReviewError,
    check_lease,
    live_leases,
    lock_user,
    start_next_lease,
)


def judge_row(
    *, validator: AbstractBaseUser, lease_id: int, slot: int, now: datetime | None = None
) -> Judgement:
    """Record the validator's choice (key 1..n or 0 = none) on their leased row."""
    now = now or timezone.now()
    cfg = ReviewSettings.load()  # read once for the whole judgement
    with transaction.atomic():
        lease, row = check_lease(validator=validator, lease_id=lease_id, now=now)
        order = review_selectors.slot_order_for(row=row, validator_id=validator.pk)
        try:
            choice = assignment.choice_for_slot(
                slot=slot, order=order, candidate_ids=row.candidate_ids
            )
        except ValueError as exc:
            raise ReviewError(str(exc)) from exc
        judgement = Judgement.objects.create(
            row=row,
            validator=validator,
            choice=choice,
            slot=slot,
            created_at=now,
            seconds_spent=max((now - lease.leased_at).total_seconds(), 0.0),
        )
        lease.delete()
        start_next_lease(validator=validator, now=now, cfg=cfg)
        do_recompute_row(row=row, now=now, cfg=cfg)
    return judgement


def undo_last_judgement(*, validator: AbstractBaseUser, now: datetime | None = None) -> Judgement:
    """Undo the validator's latest judgement within ReviewSettings.undo_seconds, unless its
    answer has been shown to them (feedback_rules.may_undo); the row is recomputed and leased
    back to them so they can judge it again."""

    cfg = ReviewSettings.load()
    now = now or timezone.now()
    with transaction.atomic():
        lock_user(validator)
        judgement = (
            Judgement.objects.filter(validator=validator, undone_at__isnull=True)
            .select_related("row")
            .order_by("-created_at", "-id")
            .first()
        )
        if judgement is None:
            raise ReviewError(feedback_rules.REFUSE_WINDOW)
        verdict = feedback_rules.may_undo(
            judged_at=judgement.created_at,
            answer_shown=review_selectors.answer_shown(validator=validator, row=judgement.row),
            now=now,
            undo_seconds=cfg.undo_seconds,
        )
        if not verdict.allowed:
            raise ReviewError(verdict.reason)
        row = ReviewRow.objects.select_for_update().get(pk=judgement.row_id)
        judgement.undone_at = now
        judgement.save(update_fields=["undone_at"])
        do_recompute_row(row=row, now=now)
        ReviewLease.objects.filter(validator=validator).delete()
        others = live_leases(row=row, now=now, exclude_user_id=validator.pk)
        if (
            row.status == ReviewRow.Status.OPEN
            and row.n_judgements + others < row.judgements_needed
        ):
            ReviewLease.objects.create(
                row=row,
                validator=validator,
                leased_at=now,
                expires_at=now + timedelta(minutes=cfg.lease_minutes),
            )
    return judgement


def show_feedback(*, validator: AbstractBaseUser, now: datetime | None = None) -> dict:
    """The validator's feedback (selectors.feedback_mistakes: only answers they can no longer
    act on); records on each judgement whose answer it shows that it was shown
    (Judgement.revealed_at), which ends undo for it and for related rows."""

    now = now or timezone.now()
    with transaction.atomic():
        lock_user(validator)  # serialised with undo
        fb = review_selectors.feedback_mistakes(validator=validator, now=now)
        ids = fb["revealed_ids"]
        for i in range(0, len(ids), 500):
            Judgement.objects.filter(pk__in=ids[i : i + 500], revealed_at__isnull=True).update(
                revealed_at=now
            )
    return fb


def skip_row(*, validator: AbstractBaseUser, lease_id: int) -> None:
    """Give the leased row back; it is not handed to this validator again."""
    with transaction.atomic():
        lease = ReviewLease.objects.filter(pk=lease_id, validator=validator).first()
        if lease is None:
            raise ReviewError("This row is not leased to you.")
        ReviewSkip.objects.get_or_create(row_id=lease.row_id, validator=validator)
        lease.delete()
        start_next_lease(validator=validator, now=timezone.now())


def do_recompute_row(
    *, row: ReviewRow, now: datetime | None = None, cfg: ReviewSettings | None = None
) -> aggregation.Outcome:
    """Recompute a (locked) row's decision from its active judgements (in recorded order);
    keeps Decision in step. With early decision a row is decided as soon as no further judgement
    can change the outcome, and reopened (with the judgements it needs again) when an undo makes
    the outcome open again. Leases still held on a row decided meanwhile are left to expire:
    they are never shown again (current_lease only returns leases on open rows) and a judgement
    sent through one is refused by check_lease ("already been decided"), nothing recorded.
    ``cfg``: the review settings when the caller has them already."""
    cfg = cfg or ReviewSettings.load()
    now = now or timezone.now()
    choices = list(
        Judgement.objects.filter(row=row, undone_at__isnull=True)
        .order_by("created_at", "id")
        .values_list("choice", flat=True)
    )
    out = aggregation.decide(
        choices,
        rule=cfg.aggregation_rule,
        required=cfg.judgements_per_row,
        max_extra=cfg.max_extra_judgements,
        early=cfg.early_decision,
    )
    row.n_judgements = len(choices)
    row.votes_for = out.votes_for
    row.no_majority = out.no_majority
    row.judgements_needed = out.needed
    if row.status != ReviewRow.Status.CLOSED:
        row.status = ReviewRow.Status.DECIDED if out.decided else ReviewRow.Status.OPEN
    row.decision = out.choice if out.decided else ""
    row.decided_at = now if out.decided else None
    row.save(
        update_fields=[
            "n_judgements",
            "votes_for",
            "no_majority",
            "judgements_needed",
            "status",
            "decision",
            "decided_at",
        ]
    )
    # matching may withdraw (an undo: restore) automatic acceptances that clash with the row's
    # human verdicts: the run decisions standing on them follow (services/withdrawals.py)
    overridden = withdrawals.overridden_by_row(review_row_id=row.pk)
    if row.kind == ReviewRow.Kind.REVIEW:
        Decision.objects.filter(row=row).delete()
        if out.decided:
            matched = int(out.choice) if out.accepted else None
            similarity = None
            if matched is not None:
                similarity = matching_selectors.candidate_similarity(
                    run_id=row.run_id, query_offer_id=row.query_offer_id, candidate_offer_id=matched
                )
            Decision.objects.filter(run_id=row.run_id, query_offer_id=row.query_offer_id).delete()
            Decision.objects.create(
                run_id=row.run_id,
                query_offer_id=row.query_offer_id,
                matched_offer_id=matched,
                similarity=similarity,
                source=Decision.Source.HUMAN,
                row=row,
                routing_id=row.routing_id,
                votes_for=out.votes_for,
                votes_total=out.votes_total,
                decided_at=now,
            )
        # --- loop (issue 9): the row's verdicts are remembered across runs (matching side) ---
        if out.decided:
            loop_service.record_review_decision(
                run_id=row.run_id,
                review_row_id=row.pk,
                query_offer_id=row.query_offer_id,
                shown=[int(c) for c in row.candidate_ids],
                choice=int(out.choice) if out.accepted else None,
                votes_for=out.votes_for,
                votes_total=out.votes_total,
                now=now,
            )
        else:
            loop_service.withdraw_review_decision(review_row_id=row.pk, now=now)
    elif row.kind == ReviewRow.Kind.CONFLICT:  # settles a product conflict, decides no query
        feed_conflict_decision(row=row, outcome=out, now=now)
    withdrawals.follow_overrides(review_row_id=row.pk, before=overridden, now=now)
    return out
