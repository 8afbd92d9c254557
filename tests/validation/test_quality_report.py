"""validation/quality_report.py: the quality report of one run, from row facts and counted
groups of rows nobody has voted on."""

from __future__ import annotations

import math
import random

import pytest

from validation import quality, quality_report

# --------------------------------------------------------------------------- the report


def _r(pk, *, kind="review", status="decided", truth="match", truth_offer=None, decision=""):
    return quality.RowFacts(
        pk=pk,
        kind=kind,
        status=status,
        truth=truth,
        truth_offer_id=truth_offer,
        decision=decision,
        candidate_ids=(10 * pk, 10 * pk + 1, 10 * pk + 2),
    )


def _j(row, who, choice, seconds=2.0):
    return quality.JudgementFacts(
        row_id=row.pk, validator=who, choice=str(choice), seconds_spent=seconds
    )


def test_report_on_plain_facts():
    r1 = _r(1, truth_offer=10, decision="10")  # positive, right: TP
    r2 = _r(2, truth_offer=20, decision="21")  # positive, wrong candidate: FN + wrong_pick
    r3 = _r(3, kind="gold", truth="none", decision="none")  # negative, none: TN
    r4 = _r(4, kind="gold", truth="none", decision="40")  # negative, picked: FP
    r5 = _r(5, truth="unknown", decision="50")  # no ground truth: not in the rates
    r6 = _r(6, status="open", truth_offer=60)  # not decided yet
    judgements = [
        _j(r1, "ann", 10, 1.0),
        _j(r1, "bob", 10, 3.0),
        _j(r2, "ann", 21),
        _j(r2, "bob", 20),
        _j(r3, "ann", "none"),
        _j(r4, "bob", 40),
        _j(r5, "ann", 50, 9.0),
    ]
    q = quality_report.report(rows=[r1, r2, r3, r4, r5, r6], judgements=judgements, n_boot=50)
    assert q["rows"] == {
        "with_truth": 5,
        "decided_with_truth": 4,
        "gold_decided": 2,
        "by_status": {"decided": 5, "open": 1},
    }
    a = q["aggregated"]
    assert (a["tp"], a["fn"], a["fp"], a["tn"]) == (1, 1, 1, 1)
    g = q["aggregated_gold"]
    assert (g["tp"], g["fn"], g["fp"], g["tn"]) == (0, 0, 1, 1)
    s = q["judgements"]
    assert (s["tp"], s["fn"], s["fp"], s["tn"]) == (3, 1, 1, 1)  # bob was right on r2
    assert q["wrong_pick"] == 1
    ann, bob = q["validators"]
    assert (ann["name"], ann["n"], ann["accuracy"], ann["n_gold"], ann["gold_accuracy"]) == (
        "ann",
        3,
        pytest.approx(2 / 3),
        1,
        1.0,
    )
    assert (bob["n"], bob["accuracy"], bob["gold_accuracy"]) == (3, pytest.approx(2 / 3), 0.0)
    assert q["median_seconds"] == 2.0
    # P_model: share of review rows with ground truth whose answer is a candidate (r1, r2, r6)
    assert q["p_model"] == 1.0 and q["p_model_source"] == "review rows with ground truth"
    assert q["lr_plus_source"] == "gold rows"
    assert q["observed_precision"] == 0.5 and q["n_accepted_with_truth"] == 2
    # alpha: r1 both pick rank 0, r2 splits (rank 1 vs rank 0); single-judgement rows ignored.
    # Coincidences o00=2, o01=o10=1: D_o = 2/4, D_e = (16 - 9 - 1)/12 = 1/2 -> alpha = 0
    assert q["agreement_alpha"] == pytest.approx(0.0)
    assert q["agreement_rows"] == 2
    assert q["votes_per_decided_row"] == pytest.approx(7 / 5)  # r1..r5 decided, 7 judgements
    # a third judgement on r2 (agreeing with the second) does not enter the measure
    q3 = quality_report.report(
        rows=[r1, r2, r3, r4, r5, r6],
        judgements=[*judgements[:4], _j(r2, "cy", 20), *judgements[4:]],
        n_boot=50,
    )
    assert q3["agreement_alpha"] == pytest.approx(0.0)
    assert q3["votes_per_decided_row"] == pytest.approx(8 / 5)


def test_report_takes_p_model_from_the_routing_without_review_rows():
    gold = _r(1, kind="gold", truth="none", decision="none")
    q = quality_report.report(rows=[gold], judgements=[], routing_band_precision=0.4, n_boot=20)
    assert q["p_model"] == 0.4
    assert q["p_model_source"] == "top-1 precision of the review band on the PR curve"
    empty = quality_report.report(rows=[], judgements=[], n_boot=20)
    assert empty["p_model"] is None and math.isnan(empty["predicted_precision"])
    assert empty["median_seconds"] is None and empty["validators"] == []


def _as_groups(rows, judgements):
    """The report's input with every row that has no judgement counted in a group by kind,
    status, truth and decision class instead of given as facts (what the selector does)."""
    judged_pks = {j.row_id for j in judgements}
    judged = [r for r in rows if r.pk in judged_pks]
    counts = {}
    for r in rows:
        if r not in judged:
            key = (r.kind, r.status, r.truth, quality_report.decision_class(r))
            counts[key] = counts.get(key, 0) + 1
    return judged, [
        quality_report.RowGroup(kind, status, truth, n=n, decision=decision)
        for (kind, status, truth, decision), n in counts.items()
    ]


def test_decision_class():
    assert quality_report.decision_class(_r(1, truth_offer=10, decision="10")) == "answer"
    assert quality_report.decision_class(_r(1, truth_offer=10, decision="11")) == "other"
    assert quality_report.decision_class(_r(1, truth_offer=10, decision="none")) == "none"
    assert quality_report.decision_class(_r(1, truth="none", decision="10")) == "other"
    assert quality_report.decision_class(_r(1, truth="unknown", decision="10")) == "other"
    assert quality_report.decision_class(_r(1, status="open", truth_offer=10)) == ""


@pytest.mark.parametrize("seed", range(12))
def test_rows_nobody_judged_give_the_same_report_as_facts_or_as_counts(seed):
    rng = random.Random(seed)
    rows, judgements = [], []
    for pk in range(1, 301):
        truth = rng.choice(["match", "none", "unknown"])
        kind = rng.choice(["review", "review", "gold"])
        status = rng.choice(["open", "open", "decided", "closed"])
        truth_offer = 10 * pk + rng.randrange(3) if truth == "match" else None
        decision = (
            rng.choice([str(10 * pk + rng.randrange(3)), "none", "none", ""])
            if status in ("decided", "closed")
            else ""
        )
        row = _r(
            pk, kind=kind, status=status, truth=truth, truth_offer=truth_offer, decision=decision
        )
        rows.append(row)
        # decided rows without a vote too (auto decisions, a run decided in bulk)
        n = rng.choice([0, 1, 2, 3]) if status == "decided" else rng.choice([0, 0, 0, 1])
        for v in rng.sample(["ann", "bob", "cy", "dee"], n):
            judgements.append(_j(row, v, rng.choice([10 * pk, 10 * pk + 1, "none"])))
    facts, groups = _as_groups(rows, judgements)
    assert len(facts) < len(rows) and sum(g.n for g in groups) == len(rows) - len(facts)
    assert any(g.status == "decided" and g.decision for g in groups)
    full = quality_report.report(rows=rows, judgements=judgements, n_boot=50, seed=seed)
    grouped = quality_report.report(
        rows=facts, judgements=judgements, groups=groups, n_boot=50, seed=seed
    )

    def same(a, b):
        if isinstance(a, dict):
            return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        if isinstance(a, list):
            return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
        if isinstance(a, float) and math.isnan(a):
            return isinstance(b, float) and math.isnan(b)
        return a == b

    assert same(full, grouped), (full, grouped)
