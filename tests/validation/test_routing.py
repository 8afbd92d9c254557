"""validation/routing.py: bands, thresholds, band precision, the routing plan."""

from __future__ import annotations

import numpy as np
import pytest

from validation import routing

# --------------------------------------------------------------------------- routing


CURVE = routing.PRCurve(
    precision=np.array([1.0, 1.0, 0.9, 0.75, 0.5]),
    recall=np.array([0.2, 0.4, 0.6, 0.8, 0.9]),
    thresholds=np.array([0.95, 0.9, 0.8, 0.7, 0.5]),
)


def test_bands():
    assert routing.band_of(0.95, accept=0.9, review=0.5) == "auto"
    assert routing.band_of(0.9, accept=0.9, review=0.5) == "auto"
    assert routing.band_of(0.6, accept=0.9, review=0.5) == "review"
    assert routing.band_of(0.49, accept=0.9, review=0.5) == "dropped"
    assert routing.band_of(0.99, accept=None, review=0.5) == "review"
    assert routing.split_bands([0.95, 0.6, 0.1], accept=0.9, review=0.5) == {
        "auto": 1,
        "review": 1,
        "dropped": 1,
    }


def test_suggest_thresholds_from_curve():
    assert routing.suggest_accept(CURVE, target_precision=0.99) == 0.9
    assert routing.suggest_accept(CURVE, target_precision=0.8) == 0.8
    assert (
        routing.suggest_accept(
            routing.PRCurve(np.array([0.5]), np.array([1.0]), np.array([0.3])),
            target_precision=0.99,
        )
        is None
    )
    th = routing.resolve_thresholds(
        curve=CURVE, similarities=[0.9], accept=None, review=None, target_precision=0.99
    )
    assert th.accept == 0.9 and th.review == 0.5 and th.suggested


def test_given_thresholds_win_and_review_never_above_accept():
    th = routing.resolve_thresholds(curve=CURVE, similarities=[], accept=0.8, review=0.85)
    assert (th.accept, th.review, th.suggested) == (0.8, 0.8, False)


def test_fallback_without_curve():
    sims = list(np.linspace(0, 1, 101))
    th = routing.resolve_thresholds(curve=None, similarities=sims, accept=None, review=None)
    assert th.accept is None
    assert th.review == pytest.approx(0.1)


def test_band_precision_recall_from_curve():
    # queries >= 0.9: recall 0.4, precision 1 -> TP 0.4n, predicted 0.4n
    # queries >= 0.7: recall 0.8, precision 0.75 -> TP 0.8n, predicted 1.0667n
    p, r = routing.band_precision_recall(CURVE, hi=0.9, lo=0.7)
    assert r == pytest.approx(0.4)
    assert p == pytest.approx(0.4 / (0.8 / 0.75 - 0.4))
    p_all, r_all = routing.band_precision_recall(CURVE, hi=None, lo=None)
    assert (p_all, r_all) == (pytest.approx(0.5), pytest.approx(0.9))
    table = routing.band_table(curve=CURVE, counts={"auto": 2, "review": 3}, accept=0.9, review=0.7)
    assert [b["band"] for b in table] == ["auto", "review", "dropped"]
    assert table[0]["precision"] == pytest.approx(1.0)
    assert table[1]["n"] == 3
