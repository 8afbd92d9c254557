"""validation/replay.py: stored judgements replayed under other rules (no database)."""

from __future__ import annotations

import math
import random

import pytest

from validation import quality, replay


def _row(pk, *, truth="match", true_rank=0, kind="gold"):
    cands = (10 * pk, 10 * pk + 1, 10 * pk + 2)
    return quality.RowFacts(
        pk=pk,
        kind=kind,
        status="decided",
        truth=truth,
        truth_offer_id=cands[true_rank] if truth == "match" else None,
        decision="",
        candidate_ids=cands,
    )


def _votes(row, *ranks, who=("a", "b", "c", "d", "e")):
    """Judgements in recorded order; a rank 0..2 picks that candidate, None picks "none"."""
    return [
        quality.JudgementFacts(
            row_id=row.pk,
            validator=who[i],
            choice="none" if r is None else str(row.candidate_ids[r]),
            seconds_spent=1.0,
        )
        for i, r in enumerate(ranks)
    ]


def _by_rule(results):
    return {r["rule"]: r for r in results}


def test_replay_stops_where_each_rule_stops():
    r1 = _row(1)  # true match rank 0
    r2 = _row(2)
    r3 = _row(3, truth="none")
    r4 = _row(4, truth="unknown")
    r5 = _row(5)  # no judgements: not replayed
    js = [
        *_votes(r1, 0, 0, 1),  # two agree at once: early stops at 2, full majority at 3
        *_votes(r2, 0, 1),  # stored under early decision: only two, disagreeing
        *_votes(r3, 1, None, None),  # FP voter first, then two "none"
        *_votes(r4, 2, 2),
    ]
    res = _by_rule(
        replay.replay(rows=[r1, r2, r3, r4, r5], judgements=js, rules=list(replay.RULES))
    )
    maj = res["majority"]
    # r1 -> rank 0 (3 votes), r3 -> none (3 votes); r2 and r4 lack a third judgement
    assert (maj["n_rows"], maj["decided"], maj["undecided"]) == (4, 2, 2)
    assert maj["votes"] == 3 + 2 + 3 + 2 and maj["votes_per_row"] == pytest.approx(10 / 4)
    assert (maj["tp"], maj["fn"], maj["fp"], maj["tn"]) == (1, 0, 0, 1)
    assert maj["precision"] == 1.0 and maj["n_accepted"] == 1
    two = res["stop_when_two_agree"]
    # r1 stops after 2, r3 needs 3, r4 stops after 2 (no truth), r2 undecided after 2
    assert (two["decided"], two["undecided"], two["votes"]) == (3, 1, 2 + 2 + 3 + 2)
    assert (two["tp"], two["tn"], two["n_truth"]) == (1, 1, 2)
    una = res["unanimous"]
    # r1: [0, 0, 1] -> not unanimous: none (FN), decided at the third; r2: first
    # disagreement -> none at 2; r3: [1, none] -> none at 2 (TN); r4: [2, 2] needs a third
    assert (una["decided"], una["undecided"], una["votes"]) == (3, 1, 3 + 2 + 2 + 2)
    assert (una["tp"], una["fn"], una["fp"], una["tn"]) == (0, 2, 0, 1)
    assert una["tpr"] == 0.0 and math.isnan(una["precision"])
    ds = res["dawid_skene"]
    assert ds["decided"] == 4 and ds["undecided"] == 0 and ds["votes"] == 10


def test_lr_plus_and_fpr_count_wrong_accepts():
    rows = [_row(1, truth="none"), _row(2, truth="none"), _row(3), _row(4, true_rank=1)]
    js = [
        *_votes(rows[0], 0, 0),  # accepted on a row without a match: FP
        *_votes(rows[1], None, None),  # TN
        *_votes(rows[2], 0, 0),  # TP
        *_votes(rows[3], 0, 0),  # wrong candidate: FN, and an accepted wrong row
    ]
    two = _by_rule(replay.replay(rows=rows, judgements=js, rules=["stop_when_two_agree"]))[
        "stop_when_two_agree"
    ]
    assert (two["tp"], two["fn"], two["fp"], two["tn"]) == (1, 1, 1, 1)
    assert two["tpr"] == 0.5 and two["fpr"] == 0.5 and two["lr_plus"] == pytest.approx(1.0)
    assert two["precision"] == pytest.approx(1 / 3) and two["n_accepted"] == 3


def test_unknown_rule():
    with pytest.raises(ValueError, match="unknown replay rule 'plurality'"):
        replay.replay(rows=[], judgements=[], rules=["plurality"])


def test_dawid_skene_down_weights_random_validators():
    """Three careful validators and two who answer at random, three judgements per row: the
    Dawid–Skene answer is right far more often than the majority (which, in addition, cannot
    decide 1-1-1 splits without the extra judgements it would have asked for)."""
    rng = random.Random(3)
    accuracy = {"g1": 0.9, "g2": 0.9, "g3": 0.85, "s1": None, "s2": None}
    rows, js = [], []
    for pk in range(1, 601):
        t = rng.choice([0, 1, 2, 3])
        row = _row(pk, truth="none" if t == 3 else "match", true_rank=min(t, 2))
        rows.append(row)
        labels = [str(c) for c in row.candidate_ids] + ["none"]
        for v in rng.sample(list(accuracy), 3):
            a = accuracy[v]
            if a is None:
                choice = rng.choice(labels)
            elif rng.random() < a:
                choice = labels[t]
            else:
                choice = rng.choice([x for i, x in enumerate(labels) if i != t])
            js.append(quality.JudgementFacts(pk, v, choice, 1.0))
    res = _by_rule(replay.replay(rows=rows, judgements=js))
    right = {k: r["tp"] + r["tn"] for k, r in res.items()}
    assert right["dawid_skene"] / 600 > 0.88
    assert right["dawid_skene"] > right["majority"] + 60
    assert res["dawid_skene"]["fpr"] < res["majority"]["fpr"]
    # the answers are classes of the row: a candidate of that row, or none
    answers = replay.dawid_skene(rows=rows, judgements=js)
    assert all(a == "none" or int(a) in rows[pk - 1].candidate_ids for pk, a in answers.items())
