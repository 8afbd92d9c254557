"""Writes of the loop: verdicts remembered across runs and the products they build.

Rules: matching/verdicts.py (reuse, staleness, precedence) and matching/products.py (clusters,
stable keys); the product writes themselves: matching/services/products.py; decided conflict
rows: matching/services/conflicts.py. Callers: validation's routing (automatic verdicts of a
run) and review (human verdicts of a decided row) call down into this module; matching never
imports validation.

Concurrency: every write runs in one transaction that first locks the shops of the offers
involved (``select_for_update``, in pk order), so two verdicts touching the same shops apply one
after the other; the unique constraints (one membership per offer, one offer per shop per
product) back the rules up.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core import bulk
from matching import loop_selectors
from matching import verdicts as vrules
from matching.models import PairVerdict
from matching.services import product_batch
from matching.services import products as product_writes
from matching.services.products import new_product_key  # noqa: F401 (re-exported)


def _create_verdicts(
    new: Sequence[vrules.NewVerdict],
    *,
    run_id: int | None,
    review_row_id: int | None,
    votes_for: int,
    votes_total: int,
    now: datetime,
) -> list[PairVerdict]:
    hashes = loop_selectors.offer_hashes(
        [o for v in new for o in (v.query_offer_id, v.candidate_offer_id)]
    )
    missing = {o for v in new for o in (v.query_offer_id, v.candidate_offer_id)} - set(hashes)
    if missing:
        raise ValueError(f"verdicts on offers that do not exist: {sorted(missing)}")
    rows = [
        PairVerdict(
            query_offer_id=v.query_offer_id,
            candidate_offer_id=v.candidate_offer_id,
            verdict=v.verdict,
            source=v.source,
            run_id=run_id,
            review_row_id=review_row_id,
            votes_for=votes_for,
            votes_total=votes_total,
            similarity=v.similarity,
            query_hash=hashes[v.query_offer_id],
            candidate_hash=hashes[v.candidate_offer_id],
            decided_at=now,
        )
        for v in new
    ]
    bulk.bulk_insert(rows, with_pks=True)  # COPY on PostgreSQL; the pks are set
    return rows


def _supersede_overruled(rejections: Sequence[PairVerdict], *, now: datetime) -> int:
    """Human rejections overrule the automatic acceptances of their own pairs (e.g. the one a
    decided conflict row turned down, held back from the products as a conflict): those are
    superseded by the rejection, so the run decisions standing on them are withdrawn
    (validation/withdrawals.py) and an undo of the rejection restores them (:func:`_withdraw`).
    Returns the number of acceptances superseded."""
    n = 0
    for r in rejections:
        q, c = r.query_offer_id, r.candidate_offer_id
        n += PairVerdict.objects.filter(
            Q(query_offer_id=q, candidate_offer_id=c) | Q(query_offer_id=c, candidate_offer_id=q),
            source=PairVerdict.Source.AUTO,
            verdict=PairVerdict.Verdict.ACCEPTED,
            superseded_by__isnull=True,
        ).update(superseded_by=r, superseded_at=now)
    return n


def _apply(verdict: PairVerdict, *, now: datetime, keep: int | None = None) -> str:
    if verdict.verdict == PairVerdict.Verdict.ACCEPTED:
        return product_writes.apply_accept(verdict, now=now)
    return product_writes.unlink(
        verdict.query_offer_id,
        verdict.candidate_offer_id,
        human=verdict.source == PairVerdict.Source.HUMAN,
        verdict=verdict,
        now=now,
        keep=keep,
    )


def record_verdicts(
    *,
    verdicts: Sequence[vrules.NewVerdict],
    run_id: int | None = None,
    review_row_id: int | None = None,
    votes_for: int = 0,
    votes_total: int = 0,
    now: datetime | None = None,
    keep: int | None = None,
) -> list[PairVerdict]:
    """Store verdicts (with both offers' current content hashes) and update the products.

    Rejections are applied first, then acceptances, so a decided row that moves a query from
    one candidate to another leaves the old product before joining the new one. ``keep``: the
    offer an acceptance among these verdicts joins (a decided conflict row's query): a rejection
    leaves it in its product, with the key, so the accepted offer joins that product; if nothing
    joins it after all, it leaves.
    """
    if not verdicts:
        return []
    now = now or timezone.now()
    with transaction.atomic():
        product_writes.lock_shops(
            o for v in verdicts for o in (v.query_offer_id, v.candidate_offer_id)
        )
        rows = _create_verdicts(
            verdicts,
            run_id=run_id,
            review_row_id=review_row_id,
            votes_for=votes_for,
            votes_total=votes_total,
            now=now,
        )
        human_rejections = [
            r
            for r in rows
            if r.source == PairVerdict.Source.HUMAN and r.verdict == PairVerdict.Verdict.REJECTED
        ]
        _supersede_overruled(human_rejections, now=now)
        for row in rows:  # rejections first, then the acceptances (in bulk, same outcome)
            if row.verdict == PairVerdict.Verdict.REJECTED:
                _apply(row, now=now, keep=keep)
        product_batch.apply_accepts(
            [r for r in rows if r.verdict == PairVerdict.Verdict.ACCEPTED], now=now
        )
        if keep is not None:
            product_writes.drop_if_alone(keep, verdict=rows[0], now=now)
    return rows


def record_review_decision(
    *,
    run_id: int,
    review_row_id: int,
    query_offer_id: int,
    shown: Sequence[int],
    choice: int | None,
    votes_for: int,
    votes_total: int,
    now: datetime | None = None,
) -> list[PairVerdict]:
    """A review row was decided: the chosen candidate accepted, the other shown ones rejected.

    Idempotent: recomputing a row to the same outcome records nothing new; a changed outcome
    replaces the row's earlier verdicts (they are withdrawn first).
    """
    new = vrules.verdicts_of_review(query_offer_id=query_offer_id, shown=shown, choice=choice)
    old = PairVerdict.objects.filter(review_row_id=review_row_id, source=PairVerdict.Source.HUMAN)
    if {(v.candidate_offer_id, v.verdict) for v in old} == {
        (v.candidate_offer_id, v.verdict) for v in new
    }:
        return []
    with transaction.atomic():
        withdraw_review_decision(review_row_id=review_row_id, now=now)
        return record_verdicts(
            verdicts=new,
            run_id=run_id,
            review_row_id=review_row_id,
            votes_for=votes_for,
            votes_total=votes_total,
            now=now,
        )


def _withdraw(qs, *, now: datetime) -> int:
    """Delete these verdicts: links they made go, automatic acceptances they had overridden
    (superseded) count again and are applied again, and so is an acceptance that one of the
    deleted rejections had beaten (the pair's strongest verdict left)."""
    gone = [(v.pk, v.query_offer_id, v.candidate_offer_id, v.verdict) for v in qs]
    if not gone:
        return 0
    restored = list(PairVerdict.objects.filter(superseded_by_id__in=[g[0] for g in gone]))
    product_writes.lock_shops(
        [o for _, q, c, _ in gone for o in (q, c)]
        + [o for r in restored for o in (r.query_offer_id, r.candidate_offer_id)]
    )
    PairVerdict.objects.filter(pk__in=[r.pk for r in restored]).update(
        superseded_by=None, superseded_at=None
    )
    PairVerdict.objects.filter(pk__in=[g[0] for g in gone]).delete()
    for _, q, c, verdict in gone:
        if verdict == PairVerdict.Verdict.ACCEPTED:
            product_writes.unlink(q, c, human=False, verdict=None, now=now)
    for v in restored:
        v.superseded_by, v.superseded_at = None, None
        if v.verdict == PairVerdict.Verdict.ACCEPTED:
            product_writes.apply_accept(v, now=now)
    for _, q, c, verdict in gone:
        if verdict == PairVerdict.Verdict.REJECTED:
            left = product_writes.strongest_verdict(q, c)
            if left is not None and left.verdict == PairVerdict.Verdict.ACCEPTED:
                product_writes.apply_accept(left, now=now)
    return len(gone)


def withdraw_review_decision(*, review_row_id: int, now: datetime | None = None) -> int:
    """A row is no longer decided (undo): its human verdicts are removed, links they made go."""
    now = now or timezone.now()
    with transaction.atomic():
        return _withdraw(
            PairVerdict.objects.filter(
                review_row_id=review_row_id, source=PairVerdict.Source.HUMAN
            ),
            now=now,
        )


def replace_auto_verdicts(
    *, run_id: int, accepted: Sequence[tuple[int, int, float | None]], now: datetime | None = None
) -> dict[str, int]:
    """The run's automatic acceptances are now exactly ``accepted`` (query, candidate,
    similarity): unchanged pairs are kept (products untouched), withdrawn ones unlinked, new ones
    recorded. Acceptances superseded by a human verdict are not the run's to recompute: they
    stay as they are (the record of the human override, an implicit rejection for reuse)."""
    now = now or timezone.now()
    want = {(q, c): s for q, c, s in accepted}
    with transaction.atomic():
        have = PairVerdict.objects.filter(
            run_id=run_id, source=PairVerdict.Source.AUTO, superseded_by__isnull=True
        )
        have_pairs = {(v.query_offer_id, v.candidate_offer_id): v.pk for v in have}
        n_withdrawn = _withdraw(
            PairVerdict.objects.filter(
                pk__in=[pk for p, pk in have_pairs.items() if p not in want]
            ),
            now=now,
        )
        new = [
            vrules.NewVerdict(
                query_offer_id=q,
                candidate_offer_id=c,
                verdict=vrules.ACCEPTED,
                source=vrules.AUTO,
                similarity=s,
            )
            for (q, c), s in want.items()
            if (q, c) not in have_pairs
        ]
        record_verdicts(verdicts=new, run_id=run_id, now=now)
    return {"added": len(new), "withdrawn": n_withdrawn, "kept": len(want) - len(new)}
