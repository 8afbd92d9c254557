"""Quality reads: load a run's rows and judgements and hand them to the pure quality.report
and replay.replay."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Count, QuerySet

from matching.models import MatchRun
from validation import quality, replay, report_text
from validation.models import Judgement, ReviewRow, ReviewSettings, Routing


def row_facts_of(qs: QuerySet[ReviewRow]) -> list[quality.RowFacts]:
    """The rows' facts for the pure cores, straight from the database as tuples (no model
    instances: a run at the paper's scale has ~45,000 rows). ``candidate_ids`` are read only
    for rows with active judgements, in a second query (rows nobody judged have no vote to map
    to a candidate; decoding 45,000 JSON lists was most of the quality page's time); the others
    get ``()``."""
    candidates = dict(qs.filter(n_judgements__gt=0).values_list("pk", "candidate_ids"))
    return [
        quality.RowFacts(
            pk=pk,
            kind=kind,
            status=status,
            truth=truth,
            truth_offer_id=truth_offer_id,
            decision=decision,
            candidate_ids=tuple(candidates.get(pk, ())),
        )
        for pk, kind, status, truth, truth_offer_id, decision in qs.values_list(
            "pk", "kind", "status", "truth", "truth_offer_id", "decision"
        )
    ]


def _review_band_precision(*, run: MatchRun) -> float | None:
    """Top-1 precision of the review band on the PR curve, from the current routing."""
    rt = Routing.objects.filter(run=run, is_current=True).first()
    if rt is None:
        return None
    band = next((b for b in rt.summary.get("bands", []) if b["band"] == "review"), None)
    return band.get("precision") if band else None


def judgement_facts(*, run: MatchRun) -> list[quality.JudgementFacts]:
    """The run's active judgements as tuples, by row and, within a row, in recorded order."""
    return [
        quality.JudgementFacts(
            row_id=row_id, validator=validator, choice=choice, seconds_spent=seconds_spent
        )
        for row_id, validator, choice, seconds_spent in Judgement.objects.filter(
            row__run=run, undone_at__isnull=True
        )
        .order_by("row_id", "created_at", "id")
        .values_list(
            "row_id", f"validator__{get_user_model().USERNAME_FIELD}", "choice", "seconds_spent"
        )
    ]


def aggregation_replay(*, run: MatchRun) -> list[dict]:
    """The run's stored judgements replayed under each rule of validation/replay.py, with the
    judgements per row and extra judgements of the current ReviewSettings."""
    cfg = ReviewSettings.load()
    return replay.replay(
        rows=row_facts_of(ReviewRow.objects.filter(run=run).order_by()),
        judgements=judgement_facts(run=run),
        required=cfg.judgements_per_row,
        max_extra=cfg.max_extra_judgements,
    )


def quality_report(*, run: MatchRun, n_boot: int = 1000, seed: int = 0) -> dict:
    """The run's quality report (validation/quality.py: report), with the run."""
    rows = row_facts_of(ReviewRow.objects.filter(run=run).order_by())
    judgements = judgement_facts(run=run)
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
