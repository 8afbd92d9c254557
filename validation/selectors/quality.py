"""Quality reads: load a run's rows and judgements and hand them to the pure quality.report."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count

from matching.models import MatchRun
from validation import quality, report_text
from validation.models import Judgement, ReviewRow, Routing


def row_facts(rows: Iterable[ReviewRow]) -> list[quality.RowFacts]:
    return [
        quality.RowFacts(
            pk=r.pk,
            kind=r.kind,
            status=r.status,
            truth=r.truth,
            truth_offer_id=r.truth_offer_id,
            decision=r.decision,
            candidate_ids=tuple(r.candidate_ids),
        )
        for r in rows
    ]


def _review_band_precision(*, run: MatchRun) -> float | None:
    """Top-1 precision of the review band on the PR curve, from the current routing."""
    rt = Routing.objects.filter(run=run, is_current=True).first()
    if rt is None:
        return None
    band = next((b for b in rt.summary.get("bands", []) if b["band"] == "review"), None)
    return band.get("precision") if band else None


def quality_report(*, run: MatchRun, n_boot: int = 1000, seed: int = 0) -> dict:
    """The run's quality report (validation/quality.py: report), with the run."""
    rows = row_facts(ReviewRow.objects.filter(run=run))
    judgements = [
        quality.JudgementFacts(
            row_id=j.row_id,
            validator=j.validator.get_username(),
            choice=j.choice,
            seconds_spent=j.seconds_spent,
        )
        for j in Judgement.objects.filter(row__run=run, undone_at__isnull=True)
        .select_related("validator")
        .order_by("row_id")
    ]
    report = quality.report(
        rows=rows,
        judgements=judgements,
        routing_band_precision=_review_band_precision(run=run),
        n_boot=n_boot,
        seed=seed,
    )
    sources = truth_sources(run=run)
    return {
        "run": run,
        **report,
        "truth_sources": sources,
        "truth_sources_text": report_text.truth_source_text(sources),
    }


def truth_sources(*, run: MatchRun) -> dict[str, int]:
    """Rows of the run by where their truth comes from: "catalogue" (product ids at routing
    time) or "file" (simulate_validators --truth); only sources with rows are listed."""
    return dict(
        ReviewRow.objects.filter(run=run)
        .values_list("truth_source")
        .annotate(n=Count("id"))
        .order_by("truth_source")
    )
