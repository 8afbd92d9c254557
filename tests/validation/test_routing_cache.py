"""The triage page at the paper's scale (issue 10): the run's scores are cached per run and
stamp, the page's figures equal the uncached computation, a changed run is read again, and the
parts that move with routing and verdicts are read fresh on every page."""

from __future__ import annotations

import re

import numpy as np
import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from matching import selectors as matching_selectors
from matching.ml.calibration import fit_calibration, reliability_bins
from matching.models import Candidate, MatchRun, Offer, ProjectionModel
from validation import routing
from validation.models import ReviewRow
from validation.selectors import routing as routing_selectors
from validation.services import routing as routing_services

from .conftest import make_user

STATUSES = ("open", "decided", "closed")
PARAMS = [
    {},  # the current routing, else suggestions
    {"target_precision": "0.9"},
    {"accept": "0.8", "review": "0.5", "target_precision": "0.99"},
    {"accept": "", "review": "0.45", "target_precision": "0.95"},
]


@pytest.fixture
def admin_client(client, db):
    client.force_login(make_user("boss", "Admins"))
    return client


@pytest.fixture
def run(db):
    from demo.synthetic_run import create_synthetic_run

    return create_synthetic_run(n_queries=300, seed=4)


def _calibrated_model() -> ProjectionModel:
    rng = np.random.default_rng(5)
    s = 0.2 + 0.8 * rng.uniform(size=2000)
    has = rng.uniform(size=2000) < 0.8
    c1 = has & (rng.uniform(size=2000) < s**2)
    cal = fit_calibration(top1_similarity=s, top1_correct=c1, topk_correct=c1, has_match=has, k=3)
    return ProjectionModel.objects.create(
        features="synthetic", status=ProjectionModel.Status.READY, calibration=cal.to_dict()
    )


def _unlabelled(run: MatchRun, *, model: ProjectionModel | None) -> None:
    """Production-like: no product ids on the queries, no labelled curve; scored by ``model``."""
    Offer.objects.filter(shop=run.query_shop).update(product_id="")
    run.pr_curve = {"precision": [], "recall": [], "thresholds": []}
    run.metrics = {"n_queries_with_match": 0}
    run.model = model
    run.save()


def _uncached_preview(run_id: int, params: dict) -> dict:
    """What the page shows, computed from scratch: the run read again, no cache."""
    run = MatchRun.objects.get(pk=run_id)
    current = routing_selectors.current_routing(run=run)
    if "target_precision" in params:
        kw = {
            "accept": float(params["accept"]) if params.get("accept") else None,
            "review": float(params["review"]) if params.get("review") else None,
            "target_precision": float(params["target_precision"]),
        }
    elif current is not None:
        kw = {"accept": current.accept, "review": current.review,
              "target_precision": current.target_precision or 0.99}  # fmt: skip
    else:
        kw = {"accept": None, "review": None, "target_precision": 0.99}
    return routing_selectors.routing_preview(run=run, **kw)


def _assert_same_preview(shown: dict, fresh: dict) -> None:
    assert shown.keys() == fresh.keys()
    for key in shown.keys() - {"curve"}:
        assert shown[key] == fresh[key], key  # exactly: same floats, same bands, same source
    if fresh["curve"] is None:
        assert shown["curve"] is None
    else:
        for field in ("precision", "recall", "thresholds"):
            np.testing.assert_array_equal(
                getattr(shown["curve"], field), getattr(fresh["curve"], field)
            )


def _without_csrf(html: bytes) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html.decode())


def _get(client, run, params):
    with CaptureQueriesContext(connection) as queries:
        resp = client.get(reverse("validation:triage", args=[run.pk]), params)
    assert resp.status_code == 200
    read_candidates = any("matching_candidate" in q["sql"] for q in queries.captured_queries)
    return resp, read_candidates


@pytest.mark.parametrize("kind", ["labelled", "calibrated", "raw"])
def test_triage_figures_equal_the_uncached_computation(admin_client, run, kind):
    if kind != "labelled":
        _unlabelled(run, model=_calibrated_model() if kind == "calibrated" else None)
    routing_services.route_run(run=run, accept=0.85, review=0.4)  # a current routing to show
    cache.clear()
    expected_source = {"labelled": "run", "calibrated": "model", "raw": "none"}[kind]
    for i, params in enumerate(PARAMS):
        first, read_first = _get(admin_client, run, params)
        again, read_again = _get(admin_client, run, params)
        # the run's candidates are read once (the first page), then come from the cache
        assert read_first == (i == 0) and not read_again
        fresh = _uncached_preview(run.pk, params)
        assert fresh["source"].kind == expected_source
        _assert_same_preview(first.context["preview"], fresh)
        _assert_same_preview(again.context["preview"], fresh)
        assert _without_csrf(first.content) == _without_csrf(again.content)
        fresh_scores = routing_selectors.run_scores(run=MatchRun.objects.get(pk=run.pk))
        assert first.context["preview"]["n_queries"] == len(fresh_scores.similarities) == 300


def test_cached_scores_are_the_runs_top1_similarities(run):
    cache.clear()
    scores = routing_selectors.cached_run_scores(run=run)
    again = routing_selectors.cached_run_scores(run=run)
    fresh = routing_selectors.run_scores(run=run)
    expected = sorted(matching_selectors.top1_similarities(run))
    assert scores.similarities.tolist() == again.similarities.tolist() == expected
    assert fresh.similarities.tolist() == expected and fresh.source == scores.source
    # split_bands on the cached (sorted) array counts what it counts on the rows
    for accept, review in ((0.9, 0.5), (None, 0.3), (0.6, 0.6)):
        assert routing.split_bands(
            scores.similarities, accept=accept, review=review
        ) == routing.split_bands(expected[::-1], accept=accept, review=review)


def test_a_changed_run_is_read_again(admin_client, run):
    cache.clear()
    url = reverse("validation:triage", args=[run.pk])
    before = admin_client.get(url).context["preview"]
    assert before["source"].kind == routing.SOURCE_RUN
    key = routing_selectors.run_scores_cache_key(run=run)
    assert cache.get(key) is not None

    # the run loses its labels and gets a calibrated model: the stamp changes
    _unlabelled(run, model=_calibrated_model())
    assert routing_selectors.run_scores_cache_key(run=run) != key
    shown = admin_client.get(url).context["preview"]
    assert shown["source"].kind == routing.SOURCE_MODEL
    _assert_same_preview(shown, _uncached_preview(run.pk, {}))

    # the candidates change with the run's row (match writes them together with its status and
    # size): one query fewer is counted on the next page
    gone = Candidate.objects.filter(run=run, rank=1).order_by("-similarity").first()
    Candidate.objects.filter(run=run, query_offer_id=gone.query_offer_id).delete()
    run.n_queries -= 1
    run.save(update_fields=["n_queries"])
    shown = admin_client.get(url).context["preview"]
    assert shown["n_queries"] == 299
    _assert_same_preview(shown, _uncached_preview(run.pk, {}))


def test_routing_and_verdicts_show_at_once_with_warm_scores(admin_client, run):
    """Re-routing and new verdicts do not touch the cached scores; the page reads the current
    routing, the row counts, LR+ and the reliability table fresh."""
    run.model = _calibrated_model()  # labelled run with a calibrated model: reliability shown
    run.save()
    routing_services.route_run(run=run, accept=0.9, review=0.5)
    cache.clear()
    url = reverse("validation:triage", args=[run.pk])
    page = admin_client.get(url)
    assert page.context["current"].accept == 0.9
    assert page.context["reliability"]["n"] == 0

    routing_services.route_run(run=run, accept=0.8, review=0.3)  # re-routing
    rows = list(ReviewRow.objects.filter(run=run, kind=ReviewRow.Kind.REVIEW).order_by("pk")[:6])
    for i, row in enumerate(rows):  # verdicts: top-1, rank 2, none
        row.status = ReviewRow.Status.DECIDED
        row.decision = [str(row.candidate_ids[0]), str(row.candidate_ids[-1]), "none"][i % 3]
        row.save()
    page, read_candidates = _get(admin_client, run, {})
    assert not read_candidates  # the scores still come from the cache
    assert page.context["current"].accept == 0.8 and page.context["preview"]["accept"] == 0.8
    _assert_same_preview(page.context["preview"], _uncached_preview(run.pk, {}))
    progress = page.context["progress"]
    assert progress["decided"] == 6
    assert progress == {s: ReviewRow.objects.filter(run=run, status=s).count() for s in STATUSES}
    assert f"{progress['open']} open, 6 decided, {progress['closed']} closed" in (
        page.content.decode()
    )
    rel = page.context["reliability"]
    assert rel["n"] == 6 and rel["observed"] == pytest.approx(2 / 6)


def _reliability_reference(run: MatchRun) -> dict | None:
    """The reliability table as it was computed before issue 10: every decided row's JSON list
    decoded in Python."""
    calibration = routing_selectors.model_calibration(run=run)
    rows = list(
        ReviewRow.objects.filter(run=run, status=ReviewRow.Status.DECIDED)
        .exclude(decision="")
        .exclude(kind=ReviewRow.Kind.CONFLICT)
        .values_list("top1_similarity", "candidate_ids", "decision")
    )
    scores = [r[0] for r in rows]
    observed = [bool(r[1]) and r[2] == str(r[1][0]) for r in rows]
    predicted = calibration.predict_top1(scores) if rows else []
    return {
        "model_id": run.model_id,
        "n": len(rows),
        "bins": reliability_bins(predicted=predicted, observed=observed, n_bins=10, scores=scores),
        "predicted": float(sum(predicted) / len(rows)) if rows else None,
        "observed": sum(observed) / len(rows) if rows else None,
    }


def test_reliability_equals_the_row_by_row_computation(run):
    run.model = _calibrated_model()
    run.save()
    routing_services.route_run(run=run, accept=0.95, review=0.2)
    assert routing_selectors.reliability(run=run) == _reliability_reference(run)  # none decided
    rows = list(ReviewRow.objects.filter(run=run).order_by("pk"))
    for i, row in enumerate(rows):
        row.status = ReviewRow.Status.DECIDED if i % 5 else ReviewRow.Status.OPEN
        row.decision = [str(row.candidate_ids[0]), str(row.candidate_ids[1]), "none", ""][i % 4]
        if i == 7:
            row.candidate_ids = []  # no candidates: never "the top-1"
        row.save()
    got = routing_selectors.reliability(run=run)
    assert got == _reliability_reference(run)
    assert 0 < got["observed"] < 1 and got["n"] > 50


def test_row_progress_counts_each_status(run):
    assert routing_selectors.row_progress(run=run) == {"open": 0, "decided": 0, "closed": 0}
    routing_services.route_run(run=run, accept=0.9, review=0.5)
    row = ReviewRow.objects.filter(run=run).first()
    row.status = ReviewRow.Status.DECIDED
    row.save()
    routing_services.route_run(run=run, accept=0.95, review=0.7)  # closes rows leaving the band
    expected = {s: ReviewRow.objects.filter(run=run, status=s).count() for s in STATUSES}
    assert expected["closed"] > 0 and expected["decided"] == 1
    assert routing_selectors.row_progress(run=run) == expected
