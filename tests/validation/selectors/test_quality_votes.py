"""selectors/quality_votes.py: a run's judgements counted in SQL give the same counts, and the
same quality report, as the judgements loaded one by one (the path before)."""

from __future__ import annotations

import math
import random
from datetime import timedelta

import numpy as np
import pytest
from django.core.cache import cache
from django.utils import timezone

from matching.models import Offer
from validation import agreement, quality, vote_counts
from validation import quality_report as report_core
from validation.models import Judgement, ReviewRow, Routing
from validation.selectors.quality import judgement_facts, quality_report
from validation.selectors.quality_votes import vote_counts_of
from validation.services.routing import route_run


def _row_facts(run):
    return [
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


def _same(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b


def _random_votes(run, validators, rng):
    """Random truths, statuses, decisions and judgements on the run's rows: every kind of
    choice (a candidate, "none", "", an offer that is not a candidate), some rows with more
    candidates than the run's k and votes beyond the k-th, equal and out-of-id-order times,
    undone judgements, a match without a true offer."""
    offers = list(Offer.objects.values_list("pk", flat=True)[:60])
    now = timezone.now()
    far_rank = 0
    for row in ReviewRow.objects.filter(run=run):
        if rng.random() < 0.3:  # a longer list than the run's k
            extra = [o for o in offers if o not in row.candidate_ids][: rng.randint(1, 4)]
            row.candidate_ids = [*row.candidate_ids, *extra]
        row.truth = rng.choice(["match", "match", "none", "unknown"])
        row.truth_offer_id = None
        if row.truth == "match" and rng.random() < 0.9:
            row.truth_offer_id = rng.choice([*row.candidate_ids, rng.choice(offers)])
        row.status = rng.choice(["open", "decided", "decided", "closed"])
        row.decision = (
            rng.choice([str(row.candidate_ids[0]), "none", ""]) if row.status != "open" else ""
        )
        choices = [*(str(c) for c in row.candidate_ids), "none", "none", "", "999999"]
        n = rng.choice([0, 1, 2, 2, 3, 4])
        active = 0
        for i, v in enumerate(rng.sample(validators, n)):
            choice = rng.choice(choices)
            far_rank += choice in [str(c) for c in row.candidate_ids[run.k :]]
            undone = rng.random() < 0.15
            Judgement.objects.create(
                row=row,
                validator=v,
                choice=choice,
                slot=0,
                # some equal times (ordered by id), some earlier than an older judgement's
                created_at=now + timedelta(seconds=rng.choice([0, 1, 1, 2]) - i % 2),
                seconds_spent=rng.choice([0.5, 1.25, 3.0, rng.uniform(0, 20)]),
                undone_at=now if undone else None,
            )
            active += not undone
        row.n_judgements = active
        row.save()
    return far_rank


@pytest.mark.parametrize("seed", range(4))
def test_counted_in_sql_as_loaded_one_by_one_on_random_votes(run, validators, seed):
    route_run(run=run, accept=0.8, review=0.3)
    rng = random.Random(seed)
    assert _random_votes(run, validators, rng) > 0  # the fallback over every position ran
    rows = _row_facts(run)
    judgements = judgement_facts(run=run)
    assert len(judgements) > 20

    counted = vote_counts_of(run=run)
    loaded = vote_counts.of_facts(rows=rows, judgements=judgements)
    assert counted == loaded
    assert counted.first_two and any(-1 in pair for pair in counted.first_two)

    # the whole report: the counted path against the report of every row and judgement
    cache.clear()
    q = quality_report(run=run, n_boot=60, seed=seed)
    routing = Routing.objects.get(run=run, is_current=True)
    band = next(b for b in routing.summary["bands"] if b["band"] == "review").get("precision")
    reference = report_core.report(
        rows=rows, judgements=judgements, routing_band_precision=band, n_boot=60, seed=seed
    )
    figures = {k: v for k, v in q.items() if not k.startswith(("run", "truth_sources"))}
    assert figures.keys() == reference.keys()
    for key, value in reference.items():
        assert _same(figures[key], value), (key, figures[key], value)


def test_no_judgements(run):
    route_run(run=run, accept=0.8, review=0.3)
    assert vote_counts_of(run=run) == vote_counts.VoteCounts()
    assert vote_counts_of(run=run) == vote_counts.of_facts(rows=_row_facts(run), judgements=[])


@pytest.mark.parametrize("n", [1, 2, 3, 10, 11])
def test_median_of_the_two_middle_values_is_numpys(n):
    values = np.random.default_rng(n).uniform(0, 30, size=n).tolist()
    s = sorted(values)
    lower, upper = s[(n - 1) // 2], s[(n - 1) // 2 + (n % 2 == 0)]
    assert vote_counts.median_of_middles(lower, upper) == vote_counts.median(values)
    assert vote_counts.median([]) is None and vote_counts.median_of_middles(None, 1.0) is None


def test_alpha_of_pair_counts_is_alpha_of_the_units():
    rng = random.Random(3)
    units = [[rng.choice([-1, 0, 1, 2]), rng.choice([-1, 0, 1, 2, 5])] for _ in range(500)]
    pairs = {}
    for a, b in units:
        pairs[(a, b)] = pairs.get((a, b), 0) + 1
    assert agreement.krippendorff_alpha_nominal_pairs(pairs) == (
        agreement.krippendorff_alpha_nominal(units)
    )
    assert math.isnan(agreement.krippendorff_alpha_nominal_pairs({}))
    assert agreement.krippendorff_alpha_nominal_pairs({(0, 0): 3, (1, 1): 2}) == 1.0
