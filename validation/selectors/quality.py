"""Quality reads: count a run's rows and judgements for the pure quality_report.report_of_counts,
load them for replay.replay."""

from __future__ import annotations

import hashlib
import json

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    FloatField,
    Max,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast

from matching.models import MatchRun
from validation import quality, replay, report_text
from validation import quality_report as report_core
from validation.models import Judgement, ReviewRow, ReviewSettings, Routing
from validation.selectors import quality_votes

_FIELDS = ("pk", "kind", "status", "truth", "truth_offer_id", "decision")


def _fact(pk, kind, status, truth, truth_offer_id, decision, candidate_ids=()) -> quality.RowFacts:
    return quality.RowFacts(
        pk=pk,
        kind=kind,
        status=status,
        truth=truth,
        truth_offer_id=truth_offer_id,
        decision=decision,
        candidate_ids=tuple(candidate_ids),
    )


def row_facts_of(qs: QuerySet[ReviewRow]) -> list[quality.RowFacts]:
    """The rows' facts for the pure cores, straight from the database as tuples (no model
    instances: a run at the paper's scale has ~45,000 rows). ``candidate_ids`` are read only
    for rows with active judgements, in a second query (rows nobody judged have no vote to map
    to a candidate; decoding 45,000 JSON lists was most of the quality page's time); the others
    get ``()``."""
    candidates = dict(qs.filter(n_judgements__gt=0).values_list("pk", "candidate_ids"))
    return [_fact(*t, candidates.get(t[0], ())) for t in qs.values_list(*_FIELDS)]


# rows with an active judgement (n_judgements counts them) or a decision
_JUDGED = Q(n_judgements__gt=0) | Q(status=ReviewRow.Status.DECIDED)
# rows with an active judgement
_VOTED = Q(n_judgements__gt=0)


def judged_row_facts(*, run: MatchRun) -> list[quality.RowFacts]:
    """The facts of the run's rows that have a judgement or a decision (one statement)."""
    rows = ReviewRow.objects.filter(_JUDGED, run=run).order_by()
    return [_fact(*t) for t in rows.values_list(*_FIELDS, "candidate_ids")]


# how a row's decision relates to its truth, in SQL: report_core.decision_class
_DECISION_CLASS = Case(
    When(decision="", then=Value(report_core.PENDING)),
    When(decision="none", then=Value(report_core.NONE)),
    When(
        Q(truth=ReviewRow.Truth.MATCH, decision=Cast("truth_offer_id", CharField())),
        then=Value(report_core.ANSWER),
    ),
    default=Value(report_core.OTHER),
    output_field=CharField(),
)


def _row_counts(*, run: MatchRun) -> tuple[list[report_core.RowGroup], dict[str, int], list[tuple]]:
    """One statement over the run's rows: the rows counted by kind, status, truth and decision
    class (report_core.RowGroup), by truth source (truth_sources), and a stamp of all rows for
    the report's cache key (per group of kind, status, truth, decision class, truth source and
    whether voted: the count, the last id and the sum of the true offers). At the paper's scale
    that is ~45,000 rows whose candidate lists need not be read."""
    groups: dict[tuple[str, str, str, str], int] = {}
    sources: dict[str, int] = {}
    counts = (
        ReviewRow.objects.filter(run=run)
        .annotate(
            voted=Case(
                When(_VOTED, then=Value(True)), default=Value(False), output_field=BooleanField()
            ),
            decision_class=_DECISION_CLASS,
        )
        .order_by()
        .values_list("kind", "status", "truth", "decision_class", "truth_source", "voted")
        .annotate(
            n=Count("id"),
            last=Max("id"),
            # a float sum: exact for ids below 2**53 / rows, and much cheaper than PostgreSQL's
            # numeric sum of a bigint column
            offers=Sum(Cast("truth_offer_id", FloatField())),
        )
    )
    stamp = []
    for kind, status, truth, decision, source, voted, n, last, offers in counts:
        stamp.append((kind, status, truth, decision, source, bool(voted), n, last, offers))
        sources[source] = sources.get(source, 0) + n
        key = (kind, status, truth, decision)
        groups[key] = groups.get(key, 0) + n
    return (
        [
            report_core.RowGroup(kind, status, truth, n=n, decision=decision)
            for (kind, status, truth, decision), n in groups.items()
        ],
        dict(sorted(sources.items())),
        sorted(stamp),
    )


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
        rows=judged_row_facts(run=run),  # the replay uses rows with judgements only
        judgements=judgement_facts(run=run),
        required=cfg.judgements_per_row,
        max_extra=cfg.max_extra_judgements,
    )


# a cached report is dropped after this long even if its stamp is unchanged
QUALITY_CACHE_SECONDS = 3600


def judgement_stamp() -> tuple[int, int, int]:
    """All judgements (of every run): how many, the last id, how many active. Judgements are
    only ever created or undone (validation/services/review.py), so any new judgement or undo
    changes it; one scan of the judgement table, no join."""
    agg = Judgement.objects.aggregate(
        n=Count("id"), last=Max("id"), active=Count("id", filter=Q(undone_at__isnull=True))
    )
    return agg["n"], agg["last"] or 0, agg["active"]


def quality_cache_key(
    *, run: MatchRun, row_stamp: list[tuple], band_precision: float | None, n_boot: int, seed: int
) -> str:
    """The quality report's cache key: the run (id and creation time), the report's parameters,
    the stamp of its rows (:func:`_row_counts`), of all judgements (:func:`judgement_stamp`)
    and the review band's precision of the current routing. What the report reads of a row
    besides these counts (a vote's choice against the true offer, the candidate list) changes
    only with a judgement or with the true offer (summed in the row stamp)."""
    parts = [
        run.pk,
        run.created_at.isoformat() if run.created_at else None,
        n_boot,
        seed,
        band_precision,
        judgement_stamp(),
        row_stamp,
    ]
    digest = hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:32]
    return f"validation:quality:{run.pk}:{digest}"


def quality_report(*, run: MatchRun, n_boot: int = 1000, seed: int = 0) -> dict:
    """The run's quality report (validation/quality_report.py: report_of_counts), with the run.
    Its rows and its judgements are counted in the database (:func:`_row_counts`,
    validation/selectors/quality_votes.py), not loaded one by one; the report goes through
    Django's cache (:func:`quality_cache_key`: any new judgement, undo, decision or truth gives
    a new key), so a run whose review is over is computed once per server process, not on
    every view."""
    groups, sources, row_stamp = _row_counts(run=run)
    band_precision = _review_band_precision(run=run)
    key = quality_cache_key(
        run=run, row_stamp=row_stamp, band_precision=band_precision, n_boot=n_boot, seed=seed
    )
    report = cache.get(key)
    if report is None:
        report = report_core.report_of_counts(
            groups=groups,
            votes=quality_votes.vote_counts_of(run=run),
            routing_band_precision=band_precision,
            n_boot=n_boot,
            seed=seed,
        )
        cache.set(key, report, QUALITY_CACHE_SECONDS)
    return {
        "run": run,
        **report,
        "truth_sources": sources,
        "truth_sources_text": report_text.truth_source_text(sources),
    }
