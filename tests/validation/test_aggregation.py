"""validation/aggregation.py: majority and unanimous rules."""

from __future__ import annotations

import pytest

from validation import aggregation

# --------------------------------------------------------------------------- aggregation


@pytest.mark.parametrize(
    ("choices", "decided", "choice", "votes", "needed"),
    [
        (["7", "7"], False, "", 2, 3),  # not enough judgements yet
        (["7", "7", "none"], True, "7", 2, 3),  # 2 of 3 > half
        (["7", "7", "7"], True, "7", 3, 3),
        (["none", "none", "7"], True, "none", 2, 3),
        (["7", "8", "none"], False, "", 1, 4),  # tie: one more judgement
        (["7", "8", "none", "7"], False, "", 2, 5),  # 2 of 4 is not more than half
        (["7", "8", "none", "7", "7"], True, "7", 3, 5),
    ],
)
def test_majority(choices, decided, choice, votes, needed):
    out = aggregation.decide(choices, rule="majority", required=3, max_extra=2)
    assert (out.decided, out.choice, out.votes_for, out.needed) == (decided, choice, votes, needed)


def test_majority_gives_up_after_max_extra():
    out = aggregation.decide(["7", "8", "none", "9", "10"], required=3, max_extra=2)
    assert out.decided and out.choice == "none" and out.no_majority and not out.accepted


def test_unanimous_rule():
    assert aggregation.decide(["7"] * 3, rule="unanimous").accepted
    out = aggregation.decide(["7", "7", "none"], rule="unanimous", max_extra=0)
    assert out.decided and out.no_majority and out.choice == "none"


def test_unknown_rule():
    with pytest.raises(ValueError, match="unknown aggregation rule"):
        aggregation.decide(["7"], rule="plurality")
