"""Calibrated routing of runs without labels (issue 9 part 1): pure logic, selector, service,
triage page."""

from __future__ import annotations

import numpy as np
import pytest
from django.urls import reverse

from matching.ml.calibration import fit_calibration
from matching.models import Offer, ProjectionModel
from validation import routing
from validation.models import Decision, ReviewRow
from validation.selectors import routing as routing_selectors
from validation.services import routing as routing_services

from .conftest import make_user

# --------------------------------------------------------------------------- pure


def _identity_calibration(**extra):
    return routing.ModelCalibration(
        model_id=7, top1_probability=lambda s: np.asarray(s), recall_at_1=0.5, **extra
    )


def test_calibrated_curve_is_the_mean_calibrated_probability_above_each_threshold():
    sims = [0.5, 0.9, 0.2, 0.8, float("-inf")]
    curve = routing.calibrated_curve(sims, calibration=_identity_calibration())
    np.testing.assert_allclose(curve.thresholds, [0.9, 0.8, 0.5, 0.2])
    np.testing.assert_allclose(curve.precision, [0.9, 0.85, 2.2 / 3, 2.4 / 4])
    # expected queries with a match: summed probability 2.4 / held-out R@1 0.5 = 4.8
    np.testing.assert_allclose(curve.recall, np.array([0.9, 1.7, 2.2, 2.4]) / 4.8)
    th = routing.resolve_thresholds(
        curve=curve, similarities=sims, accept=None, review=None, target_precision=0.8,
        curve_name="expected",
    )  # fmt: skip
    assert th.accept == pytest.approx(0.8) and "expected" in th.reason
    table = routing.band_table(
        curve=curve, counts={"auto": 2, "review": 2}, accept=th.accept, review=0.2
    )
    by_band = {b["band"]: b for b in table}
    assert by_band["auto"]["precision"] == pytest.approx(0.85)  # mean of 0.9, 0.8
    assert by_band["review"]["precision"] == pytest.approx(0.35)  # mean of 0.5, 0.2
    assert by_band["review"]["recall"] == pytest.approx(0.7 / 4.8)
    assert routing.calibrated_curve([], calibration=_identity_calibration()) is None


def test_choose_source():
    labelled = routing.PRCurve(np.array([1.0]), np.array([0.5]), np.array([0.7]))
    cal = _identity_calibration(n_queries=300, match_config={"k": 3, "one_to_one": True})
    common = {"run_config": {"k": 3, "one_to_one": True}, "similarities": [0.3, 0.6]}
    src, curve = routing.choose_source(
        labelled=True, run_curve=labelled, calibration=cal, model_id=7, **common
    )
    assert src.kind == routing.SOURCE_RUN and curve is labelled
    src, curve = routing.choose_source(
        labelled=False, run_curve=labelled, calibration=cal, model_id=7, **common
    )
    assert src.kind == routing.SOURCE_MODEL and "model #7" in src.label and not src.notes
    np.testing.assert_allclose(curve.precision, [0.6, 0.45])
    src, _ = routing.choose_source(
        labelled=False, run_curve=None, calibration=cal, model_id=7,
        run_config={"k": 3, "one_to_one": False}, similarities=[0.3],
    )  # fmt: skip
    assert src.notes and "one_to_one" in src.notes[0]
    src, curve = routing.choose_source(
        labelled=False, run_curve=labelled, calibration=None, model_id=None, **common
    )
    assert src.kind == routing.SOURCE_NONE and curve is None and "raw run" in src.label
    src, _ = routing.choose_source(
        labelled=False, run_curve=None, calibration=None, model_id=3, **common
    )
    assert "model #3 has no calibration" in src.label


# --------------------------------------------------------------------------- with a database


def _calibrated_model(seed: int = 5) -> ProjectionModel:
    """A model whose calibration was fitted on held-out data from the synthetic run's process
    (demo/synthetic_run.py: top-1 correct with probability 0.8 * s**2, s ~ U(0.2, 1))."""
    rng = np.random.default_rng(seed)
    n = 4000
    s = 0.2 + 0.8 * rng.uniform(size=n)
    has = rng.uniform(size=n) < 0.8
    c1 = has & (rng.uniform(size=n) < s**2)
    cal = fit_calibration(top1_similarity=s, top1_correct=c1, topk_correct=c1, has_match=has, k=3)
    return ProjectionModel.objects.create(
        features="synthetic", status=ProjectionModel.Status.READY, calibration=cal.to_dict()
    )


def _strip_labels(run) -> dict[int, str]:
    """Remove the query offers' product ids (kept in the returned truth) and the run's labels."""
    truth = dict(Offer.objects.filter(shop=run.query_shop).values_list("pk", "product_id"))
    Offer.objects.filter(shop=run.query_shop).update(product_id="")
    run.pr_curve = {"precision": [], "recall": [], "thresholds": []}
    run.metrics = {"n_queries_with_match": 0}
    run.save()
    return truth


@pytest.fixture
def big_run(db):
    from demo.synthetic_run import create_synthetic_run

    return create_synthetic_run(n_queries=600, seed=3)


def test_unlabelled_run_is_routed_from_its_models_calibration(big_run):
    run = big_run
    truth = _strip_labels(run)
    run.model = _calibrated_model()
    run.save()
    preview = routing_selectors.routing_preview(
        run=run, accept=None, review=None, target_precision=0.7
    )
    assert preview["source"].kind == routing.SOURCE_MODEL
    assert f"model #{run.model_id}" in preview["source"].label
    assert preview["accept"] is not None and preview["suggested"]
    bands = {b["band"]: b for b in preview["bands"]}
    assert bands["auto"]["n"] > 0
    assert bands["auto"]["precision"] >= 0.7
    # P_model (review band) comes from the calibration too, so P_hitl is forecast
    assert preview["p_model"] is not None and 0 < preview["p_model"] < bands["auto"]["precision"]
    assert preview["p_hitl"] is not None and preview["p_hitl"] > preview["p_model"]

    summary = routing_services.route_run(run=run, target_precision=0.7)
    assert summary["source"] == routing.SOURCE_MODEL and summary["n_auto"] > 0
    auto = list(Decision.objects.filter(run=run, source=Decision.Source.AUTO))
    assert len(auto) == summary["n_auto"]
    matched = Offer.objects.in_bulk([d.matched_offer_id for d in auto])
    observed = np.mean([matched[d.matched_offer_id].product_id == truth[d.query_offer_id]
                        for d in auto])  # fmt: skip
    # the expected precision was an honest forecast of the auto-accepted set (within three
    # binomial standard errors)
    expected = bands["auto"]["precision"]
    assert abs(observed - expected) < 3 * np.sqrt(expected * (1 - expected) / len(auto)) + 0.01


def test_labelled_run_keeps_its_own_curve_and_raw_unlabelled_run_falls_back(run):
    preview = routing_selectors.routing_preview(run=run, accept=None, review=None)
    assert preview["source"].kind == routing.SOURCE_RUN
    _strip_labels(run)
    preview = routing_selectors.routing_preview(run=run, accept=None, review=None)
    assert preview["source"].kind == routing.SOURCE_NONE and preview["accept"] is None
    assert preview["curve"] is None and preview["p_hitl"] is None
    assert routing_services.route_run(run=run)["n_auto"] == 0


def test_reliability_from_verdicts(big_run):
    run = big_run
    _strip_labels(run)
    run.model = _calibrated_model()
    run.save()
    assert routing_selectors.reliability(run=run)["bins"] == []
    routing_services.route_run(run=run, target_precision=0.7)
    rows = list(ReviewRow.objects.filter(run=run, kind=ReviewRow.Kind.REVIEW)[:40])
    assert rows
    for i, row in enumerate(rows):  # half the verdicts pick the top-1, half reject
        row.status = ReviewRow.Status.DECIDED
        row.decision = str(row.candidate_ids[0]) if i % 2 == 0 else "none"
        row.save()
    rel = routing_selectors.reliability(run=run)
    assert rel["n"] == len(rows) and sum(b["n"] for b in rel["bins"]) == len(rows)
    assert rel["observed"] == pytest.approx(
        sum(1 for i in range(len(rows)) if i % 2 == 0) / len(rows)
    )
    assert 0 < rel["predicted"] < 1
    for b in rel["bins"]:
        assert b["lo"] <= b["predicted"] <= b["hi"] and b["score_lo"] <= b["score_hi"]


def test_triage_page_states_the_source(client, big_run):
    admin = make_user("boss", "Admins")
    client.force_login(admin)
    url = reverse("validation:triage", args=[big_run.pk])
    resp = client.get(url)
    assert b"this run&#x27;s labels" in resp.content or b"this run's labels" in resp.content
    _strip_labels(big_run)
    resp = client.get(url)
    assert b"a raw run" in resp.content and b"fallback" in resp.content
    assert b'id="reliability"' not in resp.content
    big_run.model = _calibrated_model()
    big_run.save()
    resp = client.get(url)
    content = resp.content.decode()
    assert f"model #{big_run.model_id}&#x27;s held-out evaluation" in content
    assert 'id="reliability"' in content and "No decided rows yet" in content
    routing_services.route_run(run=big_run, target_precision=0.7)
    row = ReviewRow.objects.filter(run=big_run, kind=ReviewRow.Kind.REVIEW).first()
    row.status, row.decision = ReviewRow.Status.DECIDED, str(row.candidate_ids[0])
    row.save()
    content = client.get(url).content.decode()
    assert 'class="reliability"' in content and "Observed precision" in content
