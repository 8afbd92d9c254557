"""validation/aggregation.py: majority and unanimous rules, full and early decision."""

from __future__ import annotations

import itertools
import random
from collections import Counter

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
    out = aggregation.decide(choices, rule="majority", required=3, max_extra=2, early=False)
    assert (out.decided, out.choice, out.votes_for, out.needed) == (decided, choice, votes, needed)


def test_majority_gives_up_after_max_extra():
    out = aggregation.decide(["7", "8", "none", "9", "10"], required=3, max_extra=2, early=False)
    assert out.decided and out.choice == "none" and out.no_majority and not out.accepted


def test_unanimous_rule():
    assert aggregation.decide(["7"] * 3, rule="unanimous").accepted
    out = aggregation.decide(["7", "7", "none"], rule="unanimous", max_extra=0, early=False)
    assert out.decided and out.no_majority and out.choice == "none"


def test_unknown_rule():
    with pytest.raises(ValueError, match="unknown aggregation rule"):
        aggregation.decide(["7"], rule="plurality")


# --------------------------------------------------------------------------- early decision


@pytest.mark.parametrize(
    ("choices", "decided", "choice", "needed", "no_majority"),
    [
        ([], False, "", 2, False),  # a fresh row asks for two judgements, not three
        (["7"], False, "", 2, False),
        (["7", "7"], True, "7", 2, False),  # stop when two agree
        (["none", "none"], True, "none", 2, False),
        (["7", "8"], False, "", 3, False),  # disagreement: a third judgement
        (["7", "none", "7"], True, "7", 3, False),
        (["7", "8", "none"], False, "", 4, False),  # 1-1-1 tie: one more
        (["7", "8", "none", "7"], False, "", 5, False),  # 2 of 4: one more
        # 2 "none" of 4: the fifth judgement cannot give a candidate 3 of 5 -> rejected now
        (["7", "8", "none", "none"], True, "none", 4, True),
        (["7", "8", "9", "10"], True, "none", 4, True),
    ],
)
def test_early_majority(choices, decided, choice, needed, no_majority):
    out = aggregation.decide(choices, rule="majority", required=3, max_extra=2)
    assert (out.decided, out.choice, out.needed, out.no_majority) == (
        decided,
        choice,
        needed,
        no_majority,
    )
    assert out.votes_total == len(choices)


def test_early_unanimous_rejects_at_the_first_disagreement():
    assert aggregation.decide(["7", "8"], rule="unanimous").choice == "none"
    out = aggregation.decide(["7", "7"], rule="unanimous")
    assert not out.decided and out.needed == 3
    assert aggregation.decide(["7", "7", "7"], rule="unanimous").accepted
    # a candidate is accepted only if all agree on it, so one "none" already rejects
    out = aggregation.decide(["none"], rule="unanimous")
    assert out.decided and out.choice == "none"


def test_needed_for_new_row():
    assert aggregation.needed_for_new_row() == 2
    assert aggregation.needed_for_new_row(early=False) == 3
    assert aggregation.needed_for_new_row(required=5, max_extra=0) == 3


def test_run_process_stops_where_the_rule_stops():
    out, used = aggregation.run_process(["7", "7", "8", "8"])
    assert (out.choice, used) == ("7", 2)
    out, used = aggregation.run_process(["7", "7", "8", "8"], early=False)
    assert (out.choice, used) == ("7", 3)
    out, used = aggregation.run_process(["7", "8"], early=False)
    assert not out.decided and used == 2


def _full_process(seq, *, rule, required, max_extra):
    """Brute-force reference: the full process on a complete sequence of judgements (stops at
    the first count >= required with a winner; "none" when the extra judgements run out)."""
    win = aggregation.RULES[rule]
    for t in range(required, required + max_extra + 1):
        w = win(Counter(seq[:t]), t)
        if w is not None:
            return w[0], t
    return "none", required + max_extra


@pytest.mark.parametrize("rule", ["majority", "unanimous"])
@pytest.mark.parametrize(("required", "max_extra"), [(3, 2), (4, 1), (2, 2), (3, 0), (1, 1)])
def test_early_decision_is_exactly_the_full_decision(rule, required, max_extra):
    """Exhaustive over every sequence of judgements (alphabet large enough to realise any
    split): the early process decides the same choice as the full process on the same
    sequence, never later, and exactly at the first prefix whose continuations all end with one
    choice; ``needed`` is the fewest judgements after which that can happen."""
    total = required + max_extra
    alphabet = ["none", *[str(i) for i in range(1, total + 1)]]
    finals = {}  # full sequence -> full-process choice
    for seq in itertools.product(alphabet, repeat=total):
        finals[seq] = _full_process(seq, rule=rule, required=required, max_extra=max_extra)
    # choices reachable from each prefix, and fewest further judgements to a determined prefix
    reachable: dict[tuple, set] = {}
    for seq, (choice, _) in finals.items():
        for m in range(total + 1):
            reachable.setdefault(seq[:m], set()).add(choice)
    depth: dict[tuple, int] = {}
    for prefix in sorted(reachable, key=len, reverse=True):
        if len(reachable[prefix]) == 1:
            depth[prefix] = 0
        else:
            depth[prefix] = 1 + min(depth[(*prefix, a)] for a in alphabet)
    n_checked = 0
    for seq, (choice, full_stop) in finals.items():
        out, used = aggregation.run_process(
            list(seq), rule=rule, required=required, max_extra=max_extra
        )
        assert out.decided and out.choice == choice, seq
        assert used <= full_stop
        assert len(reachable[seq[:used]]) == 1  # decided only when nothing can change it
        for m in range(used):  # ... and as soon as that is so
            assert len(reachable[seq[:m]]) > 1, seq[:m]
            pending = aggregation.decide(
                list(seq[:m]), rule=rule, required=required, max_extra=max_extra
            )
            assert not pending.decided and pending.needed == m + depth[seq[:m]], seq[:m]
        n_checked += 1
    assert n_checked == len(alphabet) ** total


@pytest.mark.parametrize("rule", ["majority", "unanimous"])
def test_early_decision_random_sequences_larger_rows(rule):
    """Seeded random sequences with five required judgements and two extra ones."""
    rng = random.Random(20261127)
    alphabet = ["none", "1", "2", "3"]
    for _ in range(3000):
        seq = [rng.choice(alphabet) for _ in range(7)]
        choice, full_stop = _full_process(seq, rule=rule, required=5, max_extra=2)
        out, used = aggregation.run_process(seq, rule=rule, required=5, max_extra=2)
        assert out.decided and out.choice == choice and used <= full_stop, seq
        full, _ = aggregation.run_process(seq, rule=rule, required=5, max_extra=2, early=False)
        assert full.choice == choice


@pytest.mark.parametrize("a", [0.5, 0.8, 0.95, 1.0])
def test_expected_judgements_formula(a):
    assert aggregation.expected_judgements(p_right=a) == pytest.approx(3 - (a**2 + (1 - a) ** 2))
    assert aggregation.expected_judgements(p_right=a, early=False) == pytest.approx(3)
