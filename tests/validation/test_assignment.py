"""validation/assignment.py: slot order and lease policy."""

from __future__ import annotations

import random

import pytest

from validation import assignment

# --------------------------------------------------------------------------- assignment


def test_slot_order_is_a_deterministic_permutation_and_maps_back():
    order = assignment.slot_order(row_id=5, validator_id=2, n=3, secret="s")
    assert sorted(order) == [0, 1, 2]
    assert order == assignment.slot_order(row_id=5, validator_id=2, n=3, secret="s")
    orders = {
        tuple(assignment.slot_order(row_id=r, validator_id=1, n=3, secret="s")) for r in range(60)
    }
    assert len(orders) == 6  # every permutation occurs
    ids = [101, 102, 103]
    for slot in (1, 2, 3):
        assert assignment.choice_for_slot(slot=slot, order=order, candidate_ids=ids) == str(
            ids[order[slot - 1]]
        )
    assert assignment.choice_for_slot(slot=0, order=order, candidate_ids=ids) == "none"
    with pytest.raises(ValueError):
        assignment.choice_for_slot(slot=4, order=order, candidate_ids=ids)


def test_gold_rate_of_lease_policy():
    policy = assignment.LeasePolicy(gold_rate=0.2, rng=random.Random(0))
    firsts = [policy.pools()[0] for _ in range(5000)]
    assert firsts.count("gold") / 5000 == pytest.approx(0.2, abs=0.02)
    assert assignment.LeasePolicy(gold_rate=0).pools() == ("conflict", "review", "gold")
    assert policy.order_by()[0] == "-n_judgements"
