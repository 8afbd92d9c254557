"""Command `simulate_validators`: judgements per decided row, early decision vs full majority."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command

from validation.models import Judgement, ReviewRow, ReviewSettings
from validation.services.routing import route_run
from validation.simulation import expected_votes_per_decided_row


def _votes_line(text: str) -> tuple[float, float]:
    m = re.search(r"judgements per decided row: ([\d.]+) \(expected ([\d.]+)", text)
    assert m, text
    return float(m.group(1)), float(m.group(2))


def test_full_majority_asks_three_and_restores_the_setting(run):
    route_run(run=run, accept=0.8, review=0.3)
    out = io.StringIO()
    call_command(
        "simulate_validators",
        str(run.pk),
        "--tpr",
        "0.8",
        "--fpr",
        "0.05",
        "--full-majority",
        "--validators",
        "4",
        stdout=out,
    )
    text = out.getvalue()
    assert "(full majority)" in text
    # two answers per row (right or one wrong one): three judgements always have a majority
    assert _votes_line(text) == (3.0, 3.0)
    assert ReviewSettings.load().early_decision is True


def test_early_decision_saves_judgements(run):
    route_run(run=run, accept=0.8, review=0.3)
    out = io.StringIO()
    call_command(
        "simulate_validators",
        str(run.pk),
        "--tpr",
        "0.8",
        "--fpr",
        "0.05",
        "--validators",
        "4",
        stdout=out,
    )
    text = out.getvalue()
    assert "(early decision)" in text
    observed, expected = _votes_line(text)
    decided = ReviewRow.objects.filter(run=run, status="decided")
    n = Judgement.objects.filter(row__in=decided, undone_at__isnull=True).count()
    assert observed == pytest.approx(n / decided.count(), abs=0.001)
    assert 2.0 <= observed < 2.6 and 2.0 < expected < 2.4
    assert expected == pytest.approx(
        expected_votes_per_decided_row(run=run, tpr=0.8, fpr=0.05), abs=0.001
    )
