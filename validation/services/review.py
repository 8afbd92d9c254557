"""Review writes: leases, judgements, undo, skip, and the recomputed decision of a row.

Locking: every change to a ReviewRow's judgements or leases happens in a transaction that holds
that row's lock (``SELECT ... FOR UPDATE``; handing out rows uses ``SKIP LOCKED`` so concurrent
validators never wait on each other). Per-validator actions (lease, undo) first lock the
validator's user row, so two tabs of one validator are serialised. Lock order: user, then row.
On SQLite Django ignores ``select_for_update``; the embedded default opens every transaction
with ``BEGIN IMMEDIATE`` (settings), which serialises writers, so the same invariants hold.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from matching import selectors as matching_selectors
from matching.models import MatchRun
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


class ReviewError(Exception):
    """An action a validator may not take (shown to them as a message)."""


# --------------------------------------------------------------------------- leases


def _lock_user(user: AbstractBaseUser) -> None:
    list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk"))


def _live_leases(*, row: ReviewRow, now: datetime, exclude_user_id: int | None = None) -> int:
    qs = ReviewLease.objects.filter(row=row, expires_at__gt=now)
    if exclude_user_id is not None:
        qs = qs.exclude(validator_id=exclude_user_id)
    return qs.count()


def _judged_by(*, row: ReviewRow, user_id: int) -> bool:
    return Judgement.objects.filter(row=row, validator_id=user_id, undone_at__isnull=True).exists()


def current_lease(
    *, validator: AbstractBaseUser, now: datetime | None = None
) -> ReviewLease | None:
    """The validator's oldest live lease on an open row: the row on their screen (a newer one,
    if any, is the row prefetched for after it: prefetch_next_lease)."""
    now = now or timezone.now()
    return (
        ReviewLease.objects.filter(
            validator=validator, expires_at__gt=now, row__status=ReviewRow.Status.OPEN
        )
        .select_related("row")
        .order_by("leased_at", "id")
        .first()
    )


def _valid_leases(
    *, validator: AbstractBaseUser, now: datetime, run: MatchRun | None = None
) -> list[ReviewLease]:
    """The validator's live leases on open rows they have not judged, oldest first (at most two:
    the row on their screen, then the row prefetched for after it). One statement."""
    mine = Judgement.objects.filter(
        row=OuterRef("row"), validator=validator, undone_at__isnull=True
    )
    qs = (
        ReviewLease.objects.filter(
            validator=validator, expires_at__gt=now, row__status=ReviewRow.Status.OPEN
        )
        .filter(~Exists(mine))
        .filter(**({"row__run": run} if run is not None else {}))
        .select_related("row")
        .order_by("leased_at", "id")
    )
    return list(qs[:2])


def lease_next_row(
    *,
    validator: AbstractBaseUser,
    policy: assignment.LeasePolicy | None = None,
    now: datetime | None = None,
    run: MatchRun | None = None,
) -> ReviewLease | None:
    """The validator's live lease, or a new lease on the next row for them (None: nothing left).

    Never a row they judged or skipped, never more leases + judgements than the row needs,
    partly judged rows first, gold rows mixed in at ReviewSettings.gold_rate.
    """
    cfg = ReviewSettings.load()
    policy = policy or assignment.LeasePolicy(gold_rate=cfg.gold_rate)
    now = now or timezone.now()
    with transaction.atomic():
        _lock_user(validator)
        leases = _valid_leases(validator=validator, now=now, run=run)
        if leases:  # the row on their screen, or the prefetched row once that one is judged
            return leases[0]
        ReviewLease.objects.filter(validator=validator).delete()
        for pool in policy.pools():
            lease = _lease_from_pool(
                validator=validator,
                kind=pool,
                order_by=policy.order_by(),
                now=now,
                cfg=cfg,
                run=run,
            )
            if lease is not None:
                return lease
    return None


def prefetch_next_lease(
    *,
    validator: AbstractBaseUser,
    policy: assignment.LeasePolicy | None = None,
    now: datetime | None = None,
) -> ReviewLease | None:
    """Lease the row the validator will see after the one on their screen (the page's script
    asks for it while they look at the current row, to fetch its images ahead).

    A second live lease, taken like any other (lease_next_row's rules: never a row they judged,
    skipped or hold, partly judged first, gold mixed in): it counts against the row's
    judgements like every live lease, so no row gets more judgements than it needs, and it
    expires like any lease if they leave. When the current row is judged or skipped, this lease
    becomes the current one (judge_row / skip_row restart its clock); if its row was decided
    meanwhile (early decision) it is never shown and a judgement sent through it is refused
    (check_lease), nothing recorded. None when nothing is on their screen (the next review
    page leases) or nothing is left; an existing prefetched lease is returned as it is.
    """
    cfg = ReviewSettings.load()
    policy = policy or assignment.LeasePolicy(gold_rate=cfg.gold_rate)
    now = now or timezone.now()
    with transaction.atomic():
        _lock_user(validator)
        leases = _valid_leases(validator=validator, now=now)
        if not leases:
            return None
        if len(leases) > 1:
            return leases[1]
        current = leases[0]
        ReviewLease.objects.filter(validator=validator).exclude(pk=current.pk).delete()
        for pool in policy.pools():
            lease = _lease_from_pool(
                validator=validator,
                kind=pool,
                order_by=policy.order_by(),
                now=now,
                cfg=cfg,
                exclude_row_id=current.row_id,
            )
            if lease is not None:
                return lease
    return None


def _start_next_lease(*, validator: AbstractBaseUser, now: datetime) -> None:
    """The validator's prefetched lease (if any) becomes the row on their screen: its clock
    (seconds_spent, expiry) starts now. Only live leases: an expired one stays expired."""
    cfg = ReviewSettings.load()
    ReviewLease.objects.filter(validator=validator, expires_at__gt=now).update(
        leased_at=now, expires_at=now + timedelta(minutes=cfg.lease_minutes)
    )


def _lease_from_pool(
    *,
    validator: AbstractBaseUser,
    kind: str,
    order_by: tuple[str, ...],
    now: datetime,
    cfg: ReviewSettings,
    run: MatchRun | None = None,
    window: int = assignment.LEASE_WINDOW,
    exclude_row_id: int | None = None,
) -> ReviewLease | None:
    """Lease the first row of one pool the validator may take, in flat cost.

    One statement picks and locks a small window of candidate rows: PostgreSQL walks the partial
    index ``row_open_queue`` (open rows by kind, in the policy's order) and stops after
    ``window`` rows that pass the per-row checks, each an index probe: not judged by this
    validator (the unique (row, validator) judgement constraint), not skipped by them, room for
    one more judgement counting live leases (the (row, validator) lease constraint). Rows other
    validators are leasing right now are skipped (``SKIP LOCKED``), not waited for. The cost
    depends on the window and the rows walked past (rows this validator judged that still wait
    for others, rows full of live leases), not on the length of the queue. A second statement
    re-checks the locked candidates with fresh reads before the lease is written.
    """
    live = (
        ReviewLease.objects.filter(row=OuterRef("pk"), expires_at__gt=now)
        .order_by()
        .values("row")
        .annotate(c=Count("id"))
        .values("c")
    )
    mine = Judgement.objects.filter(row=OuterRef("pk"), validator=validator, undone_at__isnull=True)
    skipped = ReviewSkip.objects.filter(row=OuterRef("pk"), validator=validator)
    qs = (
        ReviewRow.objects.filter(
            status=ReviewRow.Status.OPEN, kind=kind, n_judgements__lt=F("judgements_needed")
        )
        .filter(~Exists(mine), ~Exists(skipped))
        .filter(
            ~review_selectors.answer_shown_exists(validator=validator)
        )  # never a row whose answer was shown to them
        .filter(**({"run": run} if run is not None else {}))
        .exclude(**({"pk": exclude_row_id} if exclude_row_id is not None else {}))
        .annotate(live=Coalesce(Subquery(live, output_field=IntegerField()), Value(0)))
        .filter(live__lt=F("judgements_needed") - F("n_judgements"))
        .order_by(*order_by)
        .select_for_update(skip_locked=True, of=("self",))
        .values_list("pk", flat=True)
    )
    locked = list(qs[:window])
    if not locked:
        return None
    # re-check the locked rows with fresh statements (the pick ran on an older snapshot)
    others = (
        ReviewLease.objects.filter(row=OuterRef("pk"), expires_at__gt=now)
        .exclude(validator=validator)
        .order_by()
        .values("row")
        .annotate(c=Count("id"))
        .values("c")
    )
    fresh = {
        r.pk: r
        for r in ReviewRow.objects.filter(pk__in=locked, status=ReviewRow.Status.OPEN)
        .annotate(
            judged=Exists(mine),
            others=Coalesce(Subquery(others, output_field=IntegerField()), Value(0)),
        )
        .filter(judged=False, n_judgements__lt=F("judgements_needed") - F("others"))
    }
    row = next((fresh[pk] for pk in locked if pk in fresh), None)
    if row is None:
        return None
    # the validator's other leases (but the current one, on exclude_row_id, when prefetching)
    # were deleted in this transaction, under their user lock
    return ReviewLease.objects.create(
        row=row,
        validator=validator,
        leased_at=now,
        expires_at=now + timedelta(minutes=cfg.lease_minutes),
    )


def check_lease(
    *, validator: AbstractBaseUser, lease_id: int, now: datetime
) -> tuple[ReviewLease, ReviewRow]:
    """Validate that the lease is the validator's and the row may take their judgement; locks
    the row. Raises ReviewError otherwise."""
    lease = ReviewLease.objects.filter(pk=lease_id, validator=validator).first()
    if lease is None:
        raise ReviewError("This row is not leased to you (it may have been judged already).")
    row = ReviewRow.objects.select_for_update().get(pk=lease.row_id)
    if not ReviewLease.objects.filter(pk=lease_id).exists():
        raise ReviewError("This row is not leased to you any more.")
    if row.status != ReviewRow.Status.OPEN:
        raise ReviewError("This row has already been decided.")
    if _judged_by(row=row, user_id=validator.pk):
        raise ReviewError("You have already judged this row.")
    others = _live_leases(row=row, now=now, exclude_user_id=validator.pk)
    if row.n_judgements >= row.judgements_needed or (
        lease.expires_at <= now and row.n_judgements + others >= row.judgements_needed
    ):
        raise ReviewError("Your lease on this row expired and others have taken it.")
    return lease, row


def judge_row(
    *, validator: AbstractBaseUser, lease_id: int, slot: int, now: datetime | None = None
) -> Judgement:
    """Record the validator's choice (key 1..n or 0 = none) on their leased row."""
    now = now or timezone.now()
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
        _start_next_lease(validator=validator, now=now)
        do_recompute_row(row=row, now=now)
    return judgement


def undo_last_judgement(*, validator: AbstractBaseUser, now: datetime | None = None) -> Judgement:
    """Undo the validator's latest judgement within ReviewSettings.undo_seconds, unless its
    answer has been shown to them (feedback_rules.may_undo); the row is recomputed and leased
    back to them so they can judge it again."""

    cfg = ReviewSettings.load()
    now = now or timezone.now()
    with transaction.atomic():
        _lock_user(validator)
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
        others = _live_leases(row=row, now=now, exclude_user_id=validator.pk)
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
        _lock_user(validator)  # serialised with undo
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
        _start_next_lease(validator=validator, now=timezone.now())


def do_recompute_row(*, row: ReviewRow, now: datetime | None = None) -> aggregation.Outcome:
    """Recompute a (locked) row's decision from its active judgements (in recorded order);
    keeps Decision in step. With early decision a row is decided as soon as no further judgement
    can change the outcome, and reopened (with the judgements it needs again) when an undo makes
    the outcome open again. Leases still held on a row decided meanwhile are left to expire:
    they are never shown again (current_lease only returns leases on open rows) and a judgement
    sent through one is refused by check_lease ("already been decided"), nothing recorded."""
    cfg = ReviewSettings.load()
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
    return out
