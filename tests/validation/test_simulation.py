"""validation/simulation.py: simulated validators."""

from __future__ import annotations

import random

from validation.models import ReviewRow
from validation.selectors.review import slot_order_for
from validation.services.routing import route_run
from validation.simulation import pick_slot


def test_pick_slot_follows_truth(run, validators):
    route_run(run=run, accept=None, review=0.0)
    row = ReviewRow.objects.filter(run=run, truth="match").first()
    order = slot_order_for(row=row, validator_id=1)
    slot = pick_slot(row=row, order=order, tpr=1.0, fpr=0.0, rng=random.Random(0))
    assert str(row.candidate_ids[order[slot - 1]]) == str(row.truth_offer_id)
