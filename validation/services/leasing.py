"""Leasing review rows to validators: which row comes next, prefetching, and the checks on a lease.

Locking: handing out rows uses ``SELECT ... FOR UPDATE SKIP LOCKED`` so concurrent validators
never wait on each other; per-validator actions first lock the validator's user row, so two tabs
of one validator are serialised. Lock order: user, then row. On SQLite Django ignores
``select_for_update``; the embedded default opens every transaction with ``BEGIN IMMEDIATE``
(settings), which serialises writers, so the same invariants hold.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from matching.models import MatchRun
from validation import assignment
from validation.models import (
    Judgement,
    ReviewLease,
    ReviewRow,
    ReviewSettings,
)
from validation.services import lease_queue


class ReviewError(Exception):
    """An action a validator may not take (shown to them as a message)."""


# --------------------------------------------------------------------------- leases


def lock_user(user: AbstractBaseUser) -> None:
    list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk"))


def live_leases(*, row: ReviewRow, now: datetime, exclude_user_id: int | None = None) -> int:
    qs = ReviewLease.objects.filter(row=row, expires_at__gt=now)
    if exclude_user_id is not None:
        qs = qs.exclude(validator_id=exclude_user_id)
    return qs.count()


def judged_by(*, row: ReviewRow, user_id: int) -> bool:
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
) -> tuple[list[ReviewLease], int]:
    """The validator's live leases on open rows they have not judged, oldest first (at most two:
    the row on their screen, then the row prefetched for after it), and the number of leases
    they hold in all (valid or not). One statement: a validator holds at most a few leases."""
    mine = Judgement.objects.filter(
        row=OuterRef("row"), validator=validator, undone_at__isnull=True
    )
    leases = list(
        ReviewLease.objects.filter(validator=validator)
        .annotate(judged=Exists(mine))
        .select_related("row")
        .order_by("leased_at", "id")
    )
    valid = [
        lease
        for lease in leases
        if lease.expires_at > now
        and lease.row.status == ReviewRow.Status.OPEN
        and not lease.judged
        and (run is None or lease.row.run_id == run.pk)
    ]
    return valid[:2], len(leases)


def lease_next_row(
    *,
    validator: AbstractBaseUser,
    policy: assignment.LeasePolicy | None = None,
    now: datetime | None = None,
    run: MatchRun | None = None,
    cfg: ReviewSettings | None = None,
) -> ReviewLease | None:
    """The validator's live lease, or a new lease on the next row for them (None: nothing left).

    Never a row they judged or skipped, never more leases + judgements than the row needs,
    partly judged rows first, gold rows mixed in at ReviewSettings.gold_rate. ``cfg``: the
    review settings when the caller has them already (one read per page).
    """
    cfg = cfg or ReviewSettings.load()
    policy = policy or assignment.LeasePolicy(gold_rate=cfg.gold_rate)
    now = now or timezone.now()
    with transaction.atomic():
        lock_user(validator)
        leases, n_held = _valid_leases(validator=validator, now=now, run=run)
        if leases:  # the row on their screen, or the prefetched row once that one is judged
            return leases[0]
        if n_held:  # stale leases (expired, decided, judged): gone before a new one
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
    cfg: ReviewSettings | None = None,
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
    cfg = cfg or ReviewSettings.load()
    policy = policy or assignment.LeasePolicy(gold_rate=cfg.gold_rate)
    now = now or timezone.now()
    with transaction.atomic():
        lock_user(validator)
        leases, n_held = _valid_leases(validator=validator, now=now)
        if not leases:
            return None
        if len(leases) > 1:
            return leases[1]
        current = leases[0]
        if n_held > 1:
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


def start_next_lease(
    *, validator: AbstractBaseUser, now: datetime, cfg: ReviewSettings | None = None
) -> None:
    """The validator's prefetched lease (if any) becomes the row on their screen: its clock
    (seconds_spent, expiry) starts now. Only live leases: an expired one stays expired."""
    cfg = cfg or ReviewSettings.load()
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
    re-checks the locked candidates with fresh reads before the lease is written. Both
    statements are plain SQL (validation.services.lease_queue): cheap to build on every page.
    """
    locked = lease_queue.pick_row_ids(
        validator_id=validator.pk,
        kind=kind,
        order_by=order_by,
        now=now,
        window=window,
        run_id=run.pk if run is not None else None,
        exclude_row_id=exclude_row_id,
    )
    if not locked:
        return None
    # re-check the locked rows with fresh statements (the pick ran on an older snapshot)
    fresh = lease_queue.recheck_rows(row_ids=locked, validator_id=validator.pk, now=now)
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
    if judged_by(row=row, user_id=validator.pk):
        raise ReviewError("You have already judged this row.")
    others = live_leases(row=row, now=now, exclude_user_id=validator.pk)
    if row.n_judgements >= row.judgements_needed or (
        lease.expires_at <= now and row.n_judgements + others >= row.judgements_needed
    ):
        raise ReviewError("Your lease on this row expired and others have taken it.")
    return lease, row
