"""Writes of the human side: routing, leases, judgements, undo, skip, decisions, exports.

Locking: every change to a ReviewRow's judgements or leases happens in a transaction that holds
that row's lock (``SELECT ... FOR UPDATE``; handing out rows uses ``SKIP LOCKED`` so concurrent
validators never wait on each other). Per-validator actions (lease, undo) first lock the
validator's user row, so two tabs of one validator are serialised. Lock order: user, then row.
On SQLite Django ignores ``select_for_update``; the embedded default opens every transaction
with ``BEGIN IMMEDIATE`` (settings), which serialises writers, so the same invariants hold.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from matching import selectors as matching_selectors
from matching.models import Candidate, MatchRun
from validation import aggregation, assignment, feedback_rules, routing
from validation import export as export_rules
from validation.models import (
    Decision,
    Export,
    Judgement,
    ReviewLease,
    ReviewRow,
    ReviewSettings,
    ReviewSkip,
    Routing,
)

log = logging.getLogger(__name__)


class ReviewError(Exception):
    """An action a validator may not take (shown to them as a message)."""


# --------------------------------------------------------------------------- routing


def truth_of(
    *, query_product_id: str | None, candidates: list[Candidate]
) -> tuple[str, int | None]:
    """Ground truth of a row from product ids: (truth, true candidate offer pk)."""
    if not query_product_id:
        return ReviewRow.Truth.UNKNOWN, None
    for cand in candidates:
        if cand.candidate_offer.product_id == query_product_id:
            return ReviewRow.Truth.MATCH, cand.candidate_offer_id
    if candidates and all(c.candidate_offer.product_id for c in candidates):
        return ReviewRow.Truth.NONE, None
    return ReviewRow.Truth.UNKNOWN, None


def route_run(
    *,
    run: MatchRun,
    accept: float | None = None,
    review: float | None = None,
    target_precision: float = routing.DEFAULT_TARGET_PRECISION,
    user: AbstractBaseUser | None = None,
) -> dict:
    """Apply thresholds to a run: auto-accept, review rows, dropped; returns a summary.

    Missing thresholds are suggested (routing.resolve_thresholds). Re-routing is safe:
    judgements are kept; open review rows leaving the band are closed (not deleted) and
    reopened if a later routing brings them back; human decisions are kept and beat auto ones;
    auto decisions are recomputed from the new accept threshold.
    """
    from validation import selectors

    cfg = ReviewSettings.load()
    preview = selectors.routing_preview(
        run=run, accept=accept, review=review, target_precision=target_precision
    )
    acc, rev = preview["accept"], preview["review"]
    cands = matching_selectors.run_candidates(run)
    now = timezone.now()
    rng = random.Random(run.pk)
    with transaction.atomic():
        Routing.objects.filter(run=run, is_current=True).update(is_current=False)
        rt = Routing.objects.create(
            run=run,
            accept=acc,
            review=rev,
            target_precision=target_precision,
            suggested=preview["suggested"],
            created_by=user if user is not None and user.is_authenticated else None,
        )
        existing = {r.query_offer_id: r for r in ReviewRow.objects.filter(run=run)}
        new_rows: list[ReviewRow] = []
        changed: list[ReviewRow] = []
        closing: list[int] = []
        gold_pool: list[tuple[int, list[Candidate]]] = []
        bands = dict.fromkeys(routing.BANDS, 0)
        auto: list[Candidate] = []
        for q, cl in cands.items():
            top1 = cl[0]
            band = routing.band_of(top1.similarity, accept=acc, review=rev)
            bands[band] += 1
            row = existing.get(q)
            if band == routing.REVIEW:
                if row is None:
                    truth, truth_offer = truth_of(
                        query_product_id=top1.query_offer.product_id, candidates=cl
                    )
                    new_rows.append(
                        ReviewRow(
                            run=run,
                            routing=rt,
                            query_offer_id=q,
                            candidate_ids=[c.candidate_offer_id for c in cl],
                            top1_similarity=top1.similarity,
                            kind=ReviewRow.Kind.REVIEW,
                            truth=truth,
                            truth_offer_id=truth_offer,
                            judgements_needed=cfg.judgements_per_row,
                        )
                    )
                else:
                    row.kind = ReviewRow.Kind.REVIEW
                    row.routing = rt
                    if row.status == ReviewRow.Status.CLOSED:
                        row.status = ReviewRow.Status.OPEN
                    changed.append(row)
            else:
                if band == routing.AUTO:
                    auto.append(top1)
                if row is not None:
                    if row.kind == ReviewRow.Kind.REVIEW and row.status == ReviewRow.Status.OPEN:
                        row.status = ReviewRow.Status.CLOSED
                        changed.append(row)
                        closing.append(row.pk)
                elif top1.query_offer.product_id:
                    gold_pool.append((q, cl))
        ReviewRow.objects.bulk_create(new_rows, batch_size=1000)
        ReviewRow.objects.bulk_update(changed, ["kind", "routing", "status"], batch_size=1000)
        ReviewLease.objects.filter(row_id__in=closing).delete()

        # gold rows: queries outside the review band whose answer is known
        n_gold_have = ReviewRow.objects.filter(run=run, kind=ReviewRow.Kind.GOLD).count()
        rng.shuffle(gold_pool)
        gold_rows = []
        for q, cl in gold_pool:
            if n_gold_have + len(gold_rows) >= cfg.gold_pool_size:
                break
            truth, truth_offer = truth_of(
                query_product_id=cl[0].query_offer.product_id, candidates=cl
            )
            if truth == ReviewRow.Truth.UNKNOWN:
                continue
            gold_rows.append(
                ReviewRow(
                    run=run,
                    routing=rt,
                    query_offer_id=q,
                    candidate_ids=[c.candidate_offer_id for c in cl],
                    top1_similarity=cl[0].similarity,
                    kind=ReviewRow.Kind.GOLD,
                    truth=truth,
                    truth_offer_id=truth_offer,
                    judgements_needed=cfg.judgements_per_row,
                )
            )
        ReviewRow.objects.bulk_create(gold_rows, batch_size=1000)

        # auto decisions, unless humans already decided the query
        Decision.objects.filter(run=run, source=Decision.Source.AUTO).delete()
        human = set(
            Decision.objects.filter(run=run, source=Decision.Source.HUMAN).values_list(
                "query_offer_id", flat=True
            )
        )
        Decision.objects.bulk_create(
            [
                Decision(
                    run=run,
                    query_offer_id=c.query_offer_id,
                    matched_offer_id=c.candidate_offer_id,
                    similarity=c.similarity,
                    source=Decision.Source.AUTO,
                    routing=rt,
                    decided_at=now,
                )
                for c in auto
                if c.query_offer_id not in human
            ],
            batch_size=1000,
        )
        rt.n_auto = bands[routing.AUTO]
        rt.n_review = bands[routing.REVIEW]
        rt.n_dropped = bands[routing.DROPPED]
        rt.n_gold = n_gold_have + len(gold_rows)
        summary = {
            "routing_id": rt.pk,
            "run_id": run.pk,
            "accept": acc,
            "review": rev,
            "suggested": preview["suggested"],
            "reason": preview["reason"],
            "bands": preview["bands"],
            "p_hitl": preview["p_hitl"],
            "n_auto": rt.n_auto,
            "n_review": rt.n_review,
            "n_dropped": rt.n_dropped,
            "n_gold": rt.n_gold,
            "n_review_rows_created": len(new_rows),
            "n_review_rows_closed": len(closing),
        }
        rt.summary = summary
        rt.save()
    return summary


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
    now = now or timezone.now()
    return (
        ReviewLease.objects.filter(
            validator=validator, expires_at__gt=now, row__status=ReviewRow.Status.OPEN
        )
        .select_related("row")
        .order_by("-leased_at")
        .first()
    )


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
        lease = current_lease(validator=validator, now=now)
        if (
            lease is not None
            and (run is None or lease.row.run_id == run.pk)
            and not _judged_by(row=lease.row, user_id=validator.pk)
        ):
            return lease
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


def _lease_from_pool(
    *, validator: AbstractBaseUser, kind: str, order_by: tuple[str, ...], now, cfg, run=None
) -> ReviewLease | None:
    from validation import selectors  # never a row whose answer was shown to them

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
        .annotate(live=Coalesce(Subquery(live, output_field=IntegerField()), Value(0)))
        .filter(live__lt=F("judgements_needed") - F("n_judgements"))
        .filter(~Exists(mine), ~Exists(skipped))
        .filter(~selectors.answer_shown_exists(validator=validator))
        .filter(**({"run": run} if run is not None else {}))
        .order_by(*order_by)
        .select_for_update(skip_locked=True)
    )
    for row in qs[:5]:
        # re-check with fresh statements now that the row is locked
        row.refresh_from_db()
        if row.status != ReviewRow.Status.OPEN or _judged_by(row=row, user_id=validator.pk):
            continue
        others = _live_leases(row=row, now=now, exclude_user_id=validator.pk)
        if row.n_judgements + others >= row.judgements_needed:
            continue
        lease, _ = ReviewLease.objects.update_or_create(
            row=row,
            validator=validator,
            defaults={"leased_at": now, "expires_at": now + timedelta(minutes=cfg.lease_minutes)},
        )
        return lease
    return None


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


def slot_order_for(*, row: ReviewRow, validator_id: int) -> list[int]:
    return assignment.slot_order(
        row_id=row.pk,
        validator_id=validator_id,
        n=len(row.candidate_ids),
        secret=settings.SECRET_KEY,
    )


def judge_row(
    *, validator: AbstractBaseUser, lease_id: int, slot: int, now: datetime | None = None
) -> Judgement:
    """Record the validator's choice (key 1..n or 0 = none) on their leased row."""
    now = now or timezone.now()
    with transaction.atomic():
        lease, row = check_lease(validator=validator, lease_id=lease_id, now=now)
        order = slot_order_for(row=row, validator_id=validator.pk)
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
        do_recompute_row(row=row, now=now)
    return judgement


def undo_last_judgement(*, validator: AbstractBaseUser, now: datetime | None = None) -> Judgement:
    """Undo the validator's latest judgement within ReviewSettings.undo_seconds, unless its
    answer has been shown to them (feedback_rules.may_undo); the row is recomputed and leased
    back to them so they can judge it again."""
    from validation import selectors

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
            answer_shown=selectors.answer_shown(validator=validator, row=judgement.row),
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
    from validation import selectors

    now = now or timezone.now()
    with transaction.atomic():
        _lock_user(validator)  # serialised with undo
        fb = selectors.feedback_mistakes(validator=validator, now=now)
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


def do_recompute_row(*, row: ReviewRow, now: datetime | None = None) -> aggregation.Outcome:
    """Recompute a (locked) row's decision from its active judgements; keeps Decision in step."""
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
                similarity = (
                    Candidate.objects.filter(
                        run_id=row.run_id,
                        query_offer_id=row.query_offer_id,
                        candidate_offer_id=matched,
                    )
                    .values_list("similarity", flat=True)
                    .first()
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
    return out


# --------------------------------------------------------------------------- export


def export_dir() -> Path:
    return Path(getattr(settings, "FASHIONID_EXPORT_DIR", settings.VAR_DIR / "exports"))


def write_export(*, run: MatchRun, path: Path) -> tuple[int, int]:
    """Write the run's accepted matches (one-to-one) as CSV; returns (rows, dropped conflicts)."""
    from validation import selectors

    kept, dropped = export_rules.one_to_one(selectors.accepted_matches(run=run))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        n = export_rules.write_csv(kept, fh)
    return n, dropped


def do_run_export(*, export_id: int) -> Export:
    exp = Export.objects.select_related("run").get(pk=export_id)
    name = f"run-{exp.run_id}-export-{exp.pk}.csv"
    try:
        n, dropped = write_export(run=exp.run, path=export_dir() / name)
    except Exception as exc:
        log.exception("export %s failed", export_id)
        exp.status, exp.error = Export.Status.FAILED, str(exc)
        exp.save(update_fields=["status", "error"])
        raise
    exp.status, exp.path, exp.n_rows, exp.n_conflicts_dropped = Export.Status.DONE, name, n, dropped
    exp.save(update_fields=["status", "path", "n_rows", "n_conflicts_dropped"])
    return exp


def request_export(*, run: MatchRun, user: AbstractBaseUser | None = None) -> Export:
    """Export inline when small, else as a job on the `export` queue (inline without Redis)."""
    from core.queues import enqueue
    from validation import jobs

    cfg = ReviewSettings.load()
    exp = Export.objects.create(run=run, created_by=user)
    n = Decision.objects.filter(run=run, matched_offer__isnull=False).count()
    if n <= cfg.export_inline_max:
        return do_run_export(export_id=exp.pk)
    transaction.on_commit(lambda: enqueue("export", jobs.run_export, exp.pk))
    return exp
