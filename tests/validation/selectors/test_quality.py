"""selectors/quality.py: the quality report of a judged run."""

from __future__ import annotations

import math

import pytest

from validation import quality
from validation import quality_report as report_core
from validation.models import ReviewRow, Routing
from validation.selectors.quality import judgement_facts, quality_report
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
