"""selectors/quality.py: the quality report of a judged run."""

from __future__ import annotations

import math
from unittest.mock import patch

import pytest
from django.core.cache import cache
from django.db.models import F
from django.utils import timezone

from validation import quality
from validation import quality_report as report_core
from validation.models import Judgement, ReviewRow, Routing
from validation.selectors.quality import judgement_facts, quality_report
from validation.services import leasing
from validation.services.review import judge_row, undo_last_judgement
from validation.services.routing import route_run
from validation.simulation import simulate


def test_simulated_validators_estimate(run):
    route_run(run=run, accept=0.8, review=0.3)
    n = simulate(run=run, validators=4, tpr=0.9, fpr=0.05, seed=2)
    assert n > 0
    assert not ReviewRow.objects.filter(run=run, status="open").exists()
    q = quality_report(run=run, n_boot=200)
    assert q["rows"]["gold_decided"] > 0
    assert 0 <= q["observed_precision"] <= 1
    assert q["judgements"]["tpr"] == pytest.approx(0.9, abs=0.15)
    assert q["validators"] and q["validators"][0]["name"].startswith("sim-")
    assert -1 <= q["agreement_alpha"] <= 1 and q["agreement_rows"] > 0
    # early decision: rows stop at two agreeing judgements, so fewer than three on average
    assert 2 <= q["votes_per_decided_row"] < 3


def _same(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b


def _every_row_as_facts(run, *, n_boot):
    """The report with every row of the run loaded as facts (no counted groups): what the
    selector computed before rows without votes were counted in SQL."""
    rows = [
        quality.RowFacts(
            pk=r.pk,
            kind=r.kind,
            status=r.status,
            truth=r.truth,
            truth_offer_id=r.truth_offer_id,
            decision=r.decision,
            candidate_ids=tuple(r.candidate_ids),
        )
        for r in ReviewRow.objects.filter(run=run)
    ]
    rt = Routing.objects.get(run=run, is_current=True)
    band = next(b for b in rt.summary["bands"] if b["band"] == "review")
    return report_core.report(
        rows=rows,
        judgements=judgement_facts(run=run),
        routing_band_precision=band.get("precision"),
        n_boot=n_boot,
    )


def test_rows_decided_without_votes_are_counted_with_the_same_figures(run):
    """A run partly judged, then the rest decided without votes (in bulk, as auto decisions
    are), some with ground truth: the selector counts those rows in SQL by decision class, and
    every figure equals the report over all rows as facts."""
    route_run(run=run, accept=0.8, review=0.3)
    simulate(run=run, validators=4, tpr=0.9, fpr=0.05, seed=3, max_judgements=12)
    voted = set(ReviewRow.objects.filter(n_judgements__gt=0).values_list("pk", flat=True))
    assert voted
    rest = list(ReviewRow.objects.filter(run=run).exclude(pk__in=voted).order_by("pk"))
    assert len(rest) >= 8
    for i, row in enumerate(rest):
        # every decision class: the true candidate, another one, none, and left open
        if i % 4 == 3:
            continue
        true_offer = row.truth_offer_id or row.candidate_ids[0]
        row.status = ReviewRow.Status.DECIDED
        row.decision = [str(true_offer), str(row.candidate_ids[-1]), "none"][i % 3]
        if row.truth == ReviewRow.Truth.UNKNOWN and i % 2:
            row.truth, row.truth_offer_id = ReviewRow.Truth.MATCH, true_offer
        row.save(update_fields=["status", "decision", "truth", "truth_offer_id"])
    q = quality_report(run=run, n_boot=50)
    reference = _every_row_as_facts(run, n_boot=50)
    assert q["rows"]["decided_with_truth"] > len(voted)
    assert {k: v for k, v in q.items() if not k.startswith(("run", "truth_sources"))}.keys() == (
        reference.keys()
    )
    for key, value in reference.items():
        assert _same(q[key], value), (key, q[key], value)


def _figures(q):
    return {k: v for k, v in q.items() if not k.startswith(("run", "truth_sources"))}


def test_cached_report_is_the_uncached_one_and_a_new_judgement_or_undo_or_truth_renews_it(
    run, validators
):
    """The report goes through the cache, keyed by stamps of the run's rows and of all
    judgements: a repeated view is served from the cache; a new judgement, its undo, or a new
    true offer (each alone, the rows' counts unchanged) give the report computed afresh."""
    route_run(run=run, accept=0.8, review=0.3)
    simulate(run=run, validators=4, tpr=0.9, fpr=0.05, seed=5, max_judgements=20)
    cache.clear()

    def fresh_and_cached_agree():
        q = quality_report(run=run, n_boot=40)
        assert _same(_figures(q), _every_row_as_facts(run, n_boot=40))
        return q

    first = fresh_and_cached_agree()
    # a hit: the report is not computed again
    with patch.object(report_core, "report_of_counts", side_effect=AssertionError("recomputed")):
        assert _same(_figures(quality_report(run=run, n_boot=40)), _figures(first))
    # one more vote on a voted row with ground truth: the row stays voted, same status
    row = ReviewRow.objects.filter(run=run, n_judgements__gt=0).exclude(truth="unknown").first()
    voted = set(row.judgements.values_list("validator_id", flat=True))
    extra = Judgement.objects.create(
        row=row,
        validator=next(v for v in validators if v.pk not in voted),
        choice="none",
        slot=0,
        created_at=timezone.now(),
        seconds_spent=4.0,
    )
    ReviewRow.objects.filter(pk=row.pk).update(n_judgements=F("n_judgements") + 1)
    more = fresh_and_cached_agree()
    assert more["judgements"]["n"] == first["judgements"]["n"] + 1
    # its undo
    Judgement.objects.filter(pk=extra.pk).update(undone_at=timezone.now())
    ReviewRow.objects.filter(pk=row.pk).update(n_judgements=F("n_judgements") - 1)
    assert _same(_figures(fresh_and_cached_agree()), _figures(first))
    # another true offer on a voted row whose decision is "none" (so its class stays): the
    # votes for the old and the new offer change sides
    row = next(
        r
        for r in ReviewRow.objects.filter(run=run, n_judgements__gt=0, truth="match")
        if r.judgements.filter(choice=str(r.truth_offer_id), undone_at__isnull=True).exists()
    )
    ReviewRow.objects.filter(pk=row.pk).update(status="decided", decision="none")
    before = fresh_and_cached_agree()
    new_offer = next(c for c in row.candidate_ids if c != row.truth_offer_id)
    ReviewRow.objects.filter(pk=row.pk).update(truth_offer_id=new_offer)
    moved = fresh_and_cached_agree()
    assert moved["judgements"]["tp"] < before["judgements"]["tp"]
    # a real validator's judgement through leasing and judging
    lease = leasing.lease_next_row(validator=validators[0], run=run)
    judge_row(validator=validators[0], lease_id=lease.pk, slot=1)
    assert sum(v["n"] for v in fresh_and_cached_agree()["validators"]) >= sum(
        v["n"] for v in moved["validators"]
    )
    undo_last_judgement(validator=validators[0])
    fresh_and_cached_agree()
