"""demo/synthetic_run.py: the synthetic run stores its PR curve as ``match`` does."""

import pytest

from demo.synthetic_run import create_synthetic_run
from matching.ml.evaluation import MAX_PR_POINTS
from matching.selectors import top1_similarity_array

pytestmark = [pytest.mark.django_db]


def test_curve_thinned_to_what_match_stores():
    n = MAX_PR_POINTS + 150
    run = create_synthetic_run(n_queries=n, seed=4)
    curve = run.pr_curve
    assert len(curve["recall"]) <= MAX_PR_POINTS + 1 < n
    assert len(curve["precision"]) == len(curve["thresholds"]) == len(curve["recall"])
    # the kept points are points of the full curve (thresholds at top-1 similarities), in
    # order of decreasing threshold, the last (lowest threshold, highest recall) included
    sims = {round(float(s), 9) for s in top1_similarity_array(run)}
    assert len(sims) > MAX_PR_POINTS + 1
    assert {round(float(t), 9) for t in curve["thresholds"]} <= sims
    assert curve["thresholds"] == sorted(curve["thresholds"], reverse=True)
    assert curve["thresholds"][-1] == pytest.approx(min(sims))
    assert curve["recall"][-1] == max(curve["recall"])
