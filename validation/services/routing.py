"""Routing writes: apply thresholds to a match run (auto-accept, review rows, gold rows)."""

from __future__ import annotations

from itertools import groupby
from operator import itemgetter

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from core import bulk
from matching import selectors as matching_selectors
from matching.models import MatchRun
from validation import routing
from validation.models import Decision, ReviewLease, ReviewRow, ReviewSettings, Routing
from validation.selectors.routing import routing_preview


def _query_facts(
    rows: list[tuple[int, str | None, int, str | None, float]],
) -> list[routing.QueryFacts]:
    """QueryFacts from matching_selectors.run_candidate_facts rows (by query, then rank)."""
    return [
        routing.QueryFacts(
            query_offer_id=q,
            product_id=group[0][1],
            candidates=tuple(
                routing.CandidateFacts(offer_id=c, product_id=c_product, similarity=s)
                for _, _, c, c_product, s in group
            ),
        )
        for q, group in ((q, list(g)) for q, g in groupby(rows, key=itemgetter(0)))
    ]


def _review_row(*, run: MatchRun, rt: Routing, new: routing.NewRow, needed: int) -> ReviewRow:
    return ReviewRow(
        run=run,
        routing=rt,
        query_offer_id=new.query_offer_id,
        candidate_ids=new.candidate_ids,
        top1_similarity=new.top1_similarity,
        kind=new.kind,
        truth=new.truth,
        truth_offer_id=new.truth_offer_id,
        judgements_needed=needed,
    )


def route_run(
    *,
    run: MatchRun,
    accept: float | None = None,
    review: float | None = None,
    target_precision: float = routing.DEFAULT_TARGET_PRECISION,
    user: AbstractBaseUser | None = None,
) -> dict:
    """Apply thresholds to a finished run: auto-accept, review rows, dropped; returns a summary.

    Raises matching.selectors.RunNotDone for a run that is not done. Missing thresholds are
    suggested (routing.resolve_thresholds). Re-routing is safe: judgements are kept; open review
    rows leaving the band are closed (not deleted) and reopened if a later routing brings them
    back; human decisions are kept and beat auto ones; auto decisions are recomputed from the new
    accept threshold (routing.plan_routing decides all this).
    """
    matching_selectors.check_run_done(run)
    cfg = ReviewSettings.load()
    preview = routing_preview(
        run=run, accept=accept, review=review, target_precision=target_precision
    )
    queries = _query_facts(matching_selectors.run_candidate_facts(run))
    now = timezone.now()
    with transaction.atomic():
        rows = {r.pk: r for r in ReviewRow.objects.filter(run=run)}
        plan = routing.plan_routing(
            queries=queries,
            existing=[
                routing.ExistingRow(
                    pk=r.pk, query_offer_id=r.query_offer_id, kind=r.kind, status=r.status
                )
                for r in rows.values()
            ],
            accept=preview["accept"],
            review=preview["review"],
            human_decided=set(
                Decision.objects.filter(run=run, source=Decision.Source.HUMAN).values_list(
                    "query_offer_id", flat=True
                )
            ),
            gold_pool_size=cfg.gold_pool_size,
            seed=run.pk,
        )
        Routing.objects.filter(run=run, is_current=True).update(is_current=False)
        rt = Routing.objects.create(
            run=run,
            accept=preview["accept"],
            review=preview["review"],
            target_precision=target_precision,
            suggested=preview["suggested"],
            created_by=user if user is not None and user.is_authenticated else None,
        )
        needed = cfg.judgements_per_row
        bulk.bulk_insert(  # COPY on PostgreSQL (pks are not needed back)
            [_review_row(run=run, rt=rt, new=r, needed=needed) for r in plan.new_review_rows]
        )
        changed = []
        for update in plan.updates:
            row = rows[update.pk]
            row.kind, row.status = update.kind, update.status
            if update.reroute:
                row.routing = rt
            changed.append(row)
        ReviewRow.objects.bulk_update(changed, ["kind", "routing", "status"], batch_size=1000)
        ReviewLease.objects.filter(row_id__in=plan.closed_row_ids).delete()
        bulk.bulk_insert(
            [_review_row(run=run, rt=rt, new=r, needed=needed) for r in plan.gold_rows]
        )
        # auto decisions, unless humans already decided the query
        Decision.objects.filter(run=run, source=Decision.Source.AUTO).delete()
        bulk.bulk_insert(
            [
                Decision(
                    run=run,
                    query_offer_id=d.query_offer_id,
                    matched_offer_id=d.matched_offer_id,
                    similarity=d.similarity,
                    source=Decision.Source.AUTO,
                    routing=rt,
                    decided_at=now,
                )
                for d in plan.auto_decisions
            ]
        )
        rt.n_auto = plan.bands[routing.AUTO]
        rt.n_review = plan.bands[routing.REVIEW]
        rt.n_dropped = plan.bands[routing.DROPPED]
        rt.n_gold = plan.n_gold
        rt.summary = {
            "routing_id": rt.pk,
            "run_id": run.pk,
            "accept": preview["accept"],
            "review": preview["review"],
            "suggested": preview["suggested"],
            "reason": preview["reason"],
            "bands": preview["bands"],
            "p_hitl": preview["p_hitl"],
            "n_auto": rt.n_auto,
            "n_review": rt.n_review,
            "n_dropped": rt.n_dropped,
            "n_gold": rt.n_gold,
            "n_review_rows_created": len(plan.new_review_rows),
            "n_review_rows_closed": len(plan.closed_row_ids),
        }
        rt.save()
    return rt.summary
