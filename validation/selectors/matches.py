"""Accepted matches across runs, for the API: the rows each run's match export would hold.

An accepted pair is a Decision with a matched offer (source auto or human), not withdrawn (an
automatic match validators overruled later is left out, as the products leave it out). Within a
run, the export's one-to-one rule (validation/export.py) leaves out conflicting pairs; the same
rule is applied here, over the whole run, before any filter, so the API and the CSV export agree.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.db.models import QuerySet

from validation.export import ExportRow, one_to_one
from validation.models import Decision
from validation.selectors.runs import export_rows_of, standing_accepted


def _accepted() -> QuerySet[Decision]:
    return standing_accepted()


def exported_decision_ids(*, run_ids) -> set[int]:
    """Ids of the accepted decisions of these runs that the one-to-one rule keeps."""
    by_run: dict[int, list[ExportRow]] = defaultdict(list)
    pk_of: dict[tuple[int, int], int] = {}
    accepted = _accepted().filter(run_id__in=run_ids)
    for (pk, run_id), row in export_rows_of(accepted, "pk", "run_id"):
        by_run[run_id].append(row)
        pk_of[(run_id, row.query_pk)] = pk
    kept: set[int] = set()
    for run_id, rows in by_run.items():
        rows_kept, _ = one_to_one(rows)
        kept.update(pk_of[(run_id, r.query_pk)] for r in rows_kept)
    return kept


def accepted_decisions(
    *,
    shop: str | None = None,
    run_id: int | None = None,
    updated_since: dt.datetime | None = None,
) -> QuerySet[Decision]:
    """Exported accepted decisions, filtered, in a stable order (decided_at, id).

    ``shop``: the query or the matched offer is of this shop (by name). ``updated_since``:
    decided at or after this time (a re-routing re-decides auto pairs, so they show up again).
    """
    qs = _accepted()
    if shop is not None:
        qs = qs.filter(query_offer__shop__name=shop) | qs.filter(matched_offer__shop__name=shop)
    if run_id is not None:
        qs = qs.filter(run_id=run_id)
    if updated_since is not None:
        qs = qs.filter(decided_at__gte=updated_since)
    run_ids = set(qs.values_list("run_id", flat=True).distinct())
    return (
        qs.filter(pk__in=exported_decision_ids(run_ids=run_ids))
        .select_related("run", "query_offer__shop", "matched_offer__shop")
        .order_by("decided_at", "id")
    )
