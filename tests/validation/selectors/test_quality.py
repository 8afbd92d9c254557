"""selectors/quality.py: the quality report of a judged run."""

from __future__ import annotations

import pytest

from validation.models import ReviewRow
from validation.selectors.quality import quality_report
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
