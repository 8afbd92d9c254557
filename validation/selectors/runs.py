"""Runs reads: the admin's runs overview and the accepted matches of a run (export rows)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from django.db.models import Count, QuerySet, prefetch_related_objects

from matching import selectors as matching_selectors
from matching.models import MatchRun
from validation.export import ExportRow
from validation.models import Decision, ReviewRow, Routing


def runs_overview() -> list[dict]:
    runs = matching_selectors.recent_runs(limit=50)
    prefetch_related_objects(runs, "exports")  # the page lists each run's latest exports
    counts: dict[int, dict] = defaultdict(dict)
    for run_id, status, n in (
        ReviewRow.objects.filter(run__in=runs, kind=ReviewRow.Kind.REVIEW)
        .values_list("run_id", "status")
        .annotate(n=Count("id"))
    ):
        counts[run_id][status] = n
    accepted = dict(
        Decision.objects.filter(
            run__in=runs, matched_offer__isnull=False, withdrawn_at__isnull=True
        )
        .values_list("run_id")
        .annotate(n=Count("id"))
    )
    routings = {r.run_id: r for r in Routing.objects.filter(run__in=runs, is_current=True)}
    return [
        {
            "run": run,
            "routing": routings.get(run.pk),
            "open": counts[run.pk].get("open", 0),
            "decided": counts[run.pk].get("decided", 0),
            "accepted": accepted.get(run.pk, 0),
        }
        for run in runs
    ]


EXPORT_ROW_FIELDS = (
    "query_offer_id",
    "matched_offer_id",
    "query_offer__offer_id",
    "query_offer__shop__name",
    "matched_offer__offer_id",
    "matched_offer__shop__name",
    "similarity",
    "source",
    "votes_for",
    "votes_total",
    "decided_at",
)


def export_rows_of(qs: QuerySet[Decision], *extra: str) -> Iterator[tuple[tuple, ExportRow]]:
    """(the ``extra`` fields' values, ExportRow) per decision of ``qs``, read as plain tuples in
    one query (no model objects: a run at the paper's scale has ~10^5 rows)."""
    for values in qs.values_list(*extra, *EXPORT_ROW_FIELDS):
        (
            q_pk, m_pk, q_id, q_shop, m_id, m_shop, similarity, source, votes_for, votes_total,
            decided_at,
        ) = values[len(extra):]  # fmt: skip
        yield (
            values[: len(extra)],
            ExportRow(
                query_pk=q_pk,
                matched_pk=m_pk,
                query_offer_id=q_id,
                query_shop=q_shop,
                matched_offer_id=m_id,
                matched_shop=m_shop,
                similarity=similarity,
                decision=source,
                votes_for=votes_for,
                votes_total=votes_total,
                decided_at=decided_at.isoformat(),
            ),
        )


def standing_accepted() -> QuerySet[Decision]:
    """Accepted decisions still standing: with a matched offer, not withdrawn (an automatic
    match that validators overruled later: validation/withdrawals.py)."""
    return Decision.objects.filter(matched_offer__isnull=False, withdrawn_at__isnull=True)


def accepted_matches(*, run: MatchRun) -> list[ExportRow]:
    """The run's accepted decisions (auto and human, withdrawn ones left out) as export rows,
    by query offer."""
    qs = standing_accepted().filter(run=run).order_by("query_offer_id")
    return [row for _, row in export_rows_of(qs)]


def n_accepted(*, run: MatchRun) -> int:
    return standing_accepted().filter(run=run).count()
