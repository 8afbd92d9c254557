"""The quality report of one run (pure, no ORM): confusion matrices of aggregated decisions and
of single judgements, per-validator accuracy, agreement, votes per decided row, and predicted vs
observed precision of the review band (the numbers: validation/quality.py).

Every figure of the report is a count or a function of counts (their order never matters), so
the report reads the run as counts only (:func:`report_of_counts`): its rows as
:class:`RowGroup` s, by kind, status, truth and how their decision relates to the truth, and
its active judgements as validation/vote_counts.py's VoteCounts. A group of ``n`` rows weighs
exactly as ``n`` rows would. The database counts both (validation/selectors/quality.py and
quality_votes.py): at the paper's scale a run has ~45,000 rows and ~100,000 judgements, and
loading each one was most of the quality page's time. :func:`report` gives the same report of
row and judgement facts, counted here one by one.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from validation import agreement, quality, vote_counts

# how a grouped row's decision relates to its truth (RowGroup.decision)
PENDING, NONE, ANSWER, OTHER = "", "none", "answer", "other"


@dataclass(frozen=True)
class RowGroup:
    """``n`` rows with the same kind, status, truth and class of decision: ``decision`` is
    :data:`PENDING` (no decision), :data:`NONE` ("none"), :data:`ANSWER` (the true candidate:
    truth "match" and the decision is its offer) or :data:`OTHER` (any other candidate)."""

    kind: str
    status: str
    truth: str
    n: int
    decision: str = PENDING


def decision_class(row: quality.RowFacts) -> str:
    """The :class:`RowGroup` decision class of one row's decision."""
    if row.decision in (PENDING, NONE):
        return row.decision
    answer = quality.answer_of(truth=row.truth, truth_offer_id=row.truth_offer_id)
    return ANSWER if row.truth == quality.TRUTH_MATCH and row.decision == answer else OTHER


def _group_code(g: RowGroup) -> int:
    """Outcome code of a group's decision, as quality.code_of gives it for each of its rows."""
    return quality.outcome_code(
        truth_is_match=g.truth == quality.TRUTH_MATCH,
        picked_true=g.decision == ANSWER or (g.truth != quality.TRUTH_MATCH and g.decision == NONE),
        picked_any=g.decision in (ANSWER, OTHER),
    )


def groups_of(rows: Iterable[quality.RowFacts]) -> list[RowGroup]:
    """Row facts counted in :class:`RowGroup` s (every figure of the report is the same)."""
    counts = Counter((r.kind, r.status, r.truth, decision_class(r)) for r in rows)
    return [
        RowGroup(kind, status, truth, n=n, decision=decision)
        for (kind, status, truth, decision), n in counts.items()
    ]


def _rates_dict(counts: Sequence[int], *, n_boot: int, seed: int) -> dict:
    """Rates and their bootstrap deviations of outcome counts (TP, FN, FP, TN)."""
    rates = quality.rates_from_counts(*(int(c) for c in counts)).as_dict()
    rates["std"] = quality.bootstrap_rates(
        vote_counts.codes_array(counts), n_boot=n_boot, seed=seed
    )
    return rates


def _validators(votes: vote_counts.VoteCounts) -> list[dict]:
    per_validator: dict[str, list[tuple[tuple[int, bool, bool], int]]] = defaultdict(list)
    for (name, code, right, gold), n in votes.by_validator.items():
        per_validator[name].append(((code, right, gold), n))
    out = []
    for name, items in sorted(per_validator.items()):
        codes = [0, 0, 0, 0]
        n = right = n_gold = gold_right = 0
        for (code, ok, gold), m in items:
            codes[code] += m
            n += m
            right += ok * m
            n_gold += gold * m
            gold_right += (ok and gold) * m
        r = quality.rates_from_counts(*codes)
        out.append(
            {
                "name": name,
                "n": n,
                "accuracy": right / n,
                "n_gold": n_gold,
                "gold_accuracy": gold_right / n_gold if n_gold else None,
                "tpr": r.tpr,
                "fpr": r.fpr,
            }
        )
    return out


AGREEMENT_MEASURE = "Krippendorff's alpha (nominal), first two judgements of each row"


def _agreement(votes: vote_counts.VoteCounts) -> tuple[float, int]:
    """Agreement between validators: Krippendorff's alpha (nominal; categories: candidate rank
    or none) over the FIRST TWO judgements of each row, in recorded order.

    With early decision the number of judgements per row depends on the judgements themselves
    (rows whose first two agree stop there, the others get more), so agreement over all
    judgements would be biased upwards (with accuracy a, the pairwise agreement of the first two
    is a^2 + (1-a)^2, over all of them it comes out higher). Every row gets its first two
    judgements whatever they say, so they are an unbiased sample, with or without early
    decision (alpha accepts variable numbers of values, Fleiss' kappa does not). Returns alpha
    and the number of rows it is measured on.
    """
    return (
        agreement.krippendorff_alpha_nominal_pairs(votes.first_two),
        sum(votes.first_two.values()),
    )


def report(
    *,
    rows: Sequence[quality.RowFacts],
    judgements: Sequence[quality.JudgementFacts],
    groups: Sequence[RowGroup] = (),
    routing_band_precision: float | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict:
    """:func:`report_of_counts` of row and judgement facts: ``rows`` and ``groups``, the run's
    review and gold rows, each either as facts (every row with an active judgement must be) or
    counted in a group; ``judgements``: its active judgements, ordered by row and, within a row,
    in recorded order."""
    return report_of_counts(
        groups=[*groups, *groups_of(rows)],
        votes=vote_counts.of_facts(rows=rows, judgements=judgements),
        routing_band_precision=routing_band_precision,
        n_boot=n_boot,
        seed=seed,
    )


def report_of_counts(
    *,
    groups: Sequence[RowGroup],
    votes: vote_counts.VoteCounts,
    routing_band_precision: float | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict:
    """Confusion matrices, per-validator accuracy, agreement (Krippendorff's alpha), votes per
    decided row, predicted and observed precision of one run.

    ``groups``: all the run's review and gold rows, counted (:class:`RowGroup`); ``votes``: its
    active judgements, counted (validation/vote_counts.py); ``routing_band_precision``: the
    review band's top-1 precision on the PR curve, used for P_model when no review row has
    ground truth.
    """
    with_truth = [g for g in groups if g.truth != quality.TRUTH_UNKNOWN]
    decided = [g for g in with_truth if g.status == quality.DECIDED]
    all_codes, gold_codes = [0, 0, 0, 0], [0, 0, 0, 0]
    for g in decided:  # n rows of one outcome each
        all_codes[_group_code(g)] += g.n
        if g.kind == quality.GOLD_ROW:
            gold_codes[_group_code(g)] += g.n
    wrong_pick = sum(
        g.n for g in decided if g.truth == quality.TRUTH_MATCH and g.decision in (OTHER, PENDING)
    )
    alpha, alpha_rows = _agreement(votes)

    # predicted vs observed precision of the review band
    lr_codes, lr_source = (
        (gold_codes, "gold rows") if sum(gold_codes) else (all_codes, "all rows with ground truth")
    )
    band_positive = np.repeat(
        [g.truth == quality.TRUTH_MATCH for g in with_truth if g.kind == quality.REVIEW_ROW],
        [g.n for g in with_truth if g.kind == quality.REVIEW_ROW],
    ).astype(bool)
    p_model = float(np.mean(band_positive)) if len(band_positive) else None
    p_model_source = "review rows with ground truth"
    if p_model is None and routing_band_precision is not None:
        p_model = routing_band_precision
        p_model_source = "top-1 precision of the review band on the PR curve"
    predicted, predicted_std = quality.bootstrap_p_hitl(
        gold_codes=vote_counts.codes_array(lr_codes),
        band_positive=band_positive if len(band_positive) else None,
        p_model=p_model,
        n_boot=n_boot,
        seed=seed,
    )
    accepted = [
        g.decision == ANSWER
        for g in decided
        if g.kind == quality.REVIEW_ROW and g.decision in (ANSWER, OTHER)
        for _ in range(g.n)
    ]
    observed, observed_std = quality.precision_with_std(accepted, n_boot=n_boot, seed=seed)
    combined = math.sqrt((predicted_std or 0) ** 2 + (observed_std or 0) ** 2)
    agree = (
        None
        if any(math.isnan(x) for x in (predicted, observed, combined))
        else abs(predicted - observed) <= 2 * combined
    )
    n_decided = sum(g.n for g in groups if g.status == quality.DECIDED)
    by_status: Counter = Counter()
    for g in groups:
        by_status[g.status] += g.n
    return {
        "rows": {
            "with_truth": sum(g.n for g in with_truth),
            "decided_with_truth": sum(g.n for g in decided),
            "gold_decided": sum(gold_codes),
            "by_status": dict(by_status),
        },
        "aggregated": _rates_dict(all_codes, n_boot=n_boot, seed=seed),
        "aggregated_gold": _rates_dict(gold_codes, n_boot=n_boot, seed=seed),
        "judgements": _rates_dict(votes.code_counts(), n_boot=n_boot, seed=seed),
        "wrong_pick": wrong_pick,
        "validators": _validators(votes),
        "agreement_alpha": alpha,
        "agreement_rows": alpha_rows,
        "agreement_measure": AGREEMENT_MEASURE,
        "votes_per_decided_row": votes.on_decided / n_decided if n_decided else None,
        "median_seconds": votes.median_seconds,
        "lr_plus_source": lr_source,
        "p_model": p_model,
        "p_model_source": p_model_source,
        "predicted_precision": predicted,
        "predicted_std": predicted_std,
        "observed_precision": observed,
        "observed_std": observed_std,
        "n_accepted_with_truth": len(accepted),
        "agree_within_2sd": agree,
    }
