"""The quality report of one run (pure, no ORM): confusion matrices of aggregated decisions and
of single judgements, per-validator accuracy, agreement, votes per decided row, and predicted vs
observed precision of the review band (the numbers: validation/quality.py).

Rows come in two forms: :class:`~validation.quality.RowFacts` for every row with an active
judgement, and :class:`RowGroup` counts for the rows without one (open rows nobody has judged,
and rows decided or closed with no active judgement), by kind, status, truth and how their
decision relates to the truth. Every figure of the report is a count or a function of counts
of such rows (their order never matters), so a group of ``n`` rows weighs exactly as ``n``
facts would. At the paper's scale most of a run's ~45,000 rows are of the second kind;
counting them in the database instead of loading each one keeps the quality page fast.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from validation import agreement, quality

# how a grouped row's decision relates to its truth (RowGroup.decision)
PENDING, NONE, ANSWER, OTHER = "", "none", "answer", "other"


@dataclass(frozen=True)
class RowGroup:
    """``n`` rows without an active judgement, with the same kind, status, truth and class of
    decision: ``decision`` is :data:`PENDING` (no decision), :data:`NONE` ("none"),
    :data:`ANSWER` (the true candidate: truth "match" and the decision is its offer) or
    :data:`OTHER` (any other candidate)."""

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


def _rates_dict(codes: list[int], *, n_boot: int, seed: int) -> dict:
    rates = quality.confusion(codes).as_dict()
    rates["std"] = quality.bootstrap_rates(codes, n_boot=n_boot, seed=seed)
    return rates


def _validators(
    rows: dict[int, quality.RowFacts], judgements: Sequence[quality.JudgementFacts]
) -> list[dict]:
    per_validator: dict[str, list[tuple[int, bool, bool]]] = defaultdict(list)
    for j in judgements:
        row = rows[j.row_id]
        if row.truth == quality.TRUTH_UNKNOWN:
            continue
        answer = quality.answer_of(truth=row.truth, truth_offer_id=row.truth_offer_id)
        per_validator[j.validator].append(
            (quality.code_of(row, j.choice), j.choice == answer, row.kind == quality.GOLD_ROW)
        )
    out = []
    for name, items in sorted(per_validator.items()):
        gold = [ok for _, ok, g in items if g]
        r = quality.confusion([c for c, _, _ in items])
        out.append(
            {
                "name": name,
                "n": len(items),
                "accuracy": sum(ok for _, ok, _ in items) / len(items),
                "n_gold": len(gold),
                "gold_accuracy": sum(gold) / len(gold) if gold else None,
                "tpr": r.tpr,
                "fpr": r.fpr,
            }
        )
    return out


AGREEMENT_MEASURE = "Krippendorff's alpha (nominal), first two judgements of each row"


def _agreement(
    rows: dict[int, quality.RowFacts], judgements: Sequence[quality.JudgementFacts]
) -> tuple[float, int]:
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
    first_two: dict[int, list[int]] = defaultdict(list)
    ranks: dict[int, dict[str, int]] = {}  # per row: candidate id (as a choice) -> first rank
    for j in judgements:
        if len(first_two[j.row_id]) < 2:
            rank = ranks.get(j.row_id)
            if rank is None:
                rank = ranks[j.row_id] = {}
                for i, x in enumerate(rows[j.row_id].candidate_ids):
                    rank.setdefault(str(x), i)
            first_two[j.row_id].append(rank.get(j.choice, -1))
    units = [u for u in first_two.values() if len(u) == 2]
    return agreement.krippendorff_alpha_nominal(units), len(units)


def _votes_per_decided_row(
    rows: Sequence[quality.RowFacts],
    judgements: Sequence[quality.JudgementFacts],
    groups: Sequence[RowGroup],
) -> float | None:
    decided = {r.pk for r in rows if r.status == quality.DECIDED}
    n_decided = len(decided) + sum(g.n for g in groups if g.status == quality.DECIDED)
    if not n_decided:
        return None
    return sum(1 for j in judgements if j.row_id in decided) / n_decided


def _status_counts(rows: Sequence[quality.RowFacts], groups: Sequence[RowGroup]) -> Counter:
    counts = Counter(r.status for r in rows)
    for g in groups:
        counts[g.status] += g.n
    return counts


def report(
    *,
    rows: Sequence[quality.RowFacts],
    judgements: Sequence[quality.JudgementFacts],
    groups: Sequence[RowGroup] = (),
    routing_band_precision: float | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict:
    """Confusion matrices, per-validator accuracy, agreement (Krippendorff's alpha), votes per
    decided row, predicted and observed precision of one run.

    ``rows`` and ``groups``: the run's review and gold rows, each either as facts (every row
    with an active judgement must be) or counted in a group (rows without one);
    ``judgements``: its active judgements, ordered by row and, within a row, in recorded order;
    ``routing_band_precision``: the review band's top-1 precision on the PR curve, used for
    P_model when no review row has ground truth.
    """
    by_pk = {r.pk: r for r in rows}
    with_truth = [r for r in rows if r.truth != quality.TRUTH_UNKNOWN]
    groups_with_truth = [g for g in groups if g.truth != quality.TRUTH_UNKNOWN]
    decided = [r for r in with_truth if r.status == quality.DECIDED]
    decided_groups = [g for g in groups_with_truth if g.status == quality.DECIDED]
    all_codes = [quality.code_of(r, r.decision) for r in decided]
    gold_codes = [quality.code_of(r, r.decision) for r in decided if r.kind == quality.GOLD_ROW]
    for g in decided_groups:  # n rows of one outcome each
        all_codes += [_group_code(g)] * g.n
        if g.kind == quality.GOLD_ROW:
            gold_codes += [_group_code(g)] * g.n
    wrong_pick = sum(
        1
        for r in decided
        if r.truth == quality.TRUTH_MATCH
        and r.decision
        not in ("none", quality.answer_of(truth=r.truth, truth_offer_id=r.truth_offer_id))
    ) + sum(
        g.n
        for g in decided_groups
        if g.truth == quality.TRUTH_MATCH and g.decision in (OTHER, PENDING)
    )
    judgement_codes = [
        quality.code_of(by_pk[j.row_id], j.choice)
        for j in judgements
        if by_pk[j.row_id].truth != quality.TRUTH_UNKNOWN
    ]
    seconds = [j.seconds_spent for j in judgements]
    alpha, alpha_rows = _agreement(by_pk, judgements)

    # predicted vs observed precision of the review band
    review_rows = [r for r in with_truth if r.kind == quality.REVIEW_ROW]
    lr_codes, lr_source = (
        (gold_codes, "gold rows") if gold_codes else (all_codes, "all rows with ground truth")
    )
    band_positive = [r.truth == quality.TRUTH_MATCH for r in review_rows]
    for g in groups_with_truth:
        if g.kind == quality.REVIEW_ROW:
            band_positive += [g.truth == quality.TRUTH_MATCH] * g.n
    p_model = float(np.mean(band_positive)) if band_positive else None
    p_model_source = "review rows with ground truth"
    if p_model is None and routing_band_precision is not None:
        p_model = routing_band_precision
        p_model_source = "top-1 precision of the review band on the PR curve"
    predicted, predicted_std = quality.bootstrap_p_hitl(
        gold_codes=lr_codes,
        band_positive=band_positive or None,
        p_model=p_model,
        n_boot=n_boot,
        seed=seed,
    )
    accepted = [
        r.decision == quality.answer_of(truth=r.truth, truth_offer_id=r.truth_offer_id)
        for r in review_rows
        if r.status == quality.DECIDED and r.decision not in ("", "none")
    ]
    for g in decided_groups:
        if g.kind == quality.REVIEW_ROW and g.decision in (ANSWER, OTHER):
            accepted += [g.decision == ANSWER] * g.n
    observed, observed_std = quality.precision_with_std(accepted, n_boot=n_boot, seed=seed)
    combined = math.sqrt((predicted_std or 0) ** 2 + (observed_std or 0) ** 2)
    agree = (
        None
        if any(math.isnan(x) for x in (predicted, observed, combined))
        else abs(predicted - observed) <= 2 * combined
    )
    return {
        "rows": {
            "with_truth": len(with_truth) + sum(g.n for g in groups_with_truth),
            "decided_with_truth": len(decided) + sum(g.n for g in decided_groups),
            "gold_decided": len(gold_codes),
            "by_status": dict(_status_counts(rows, groups)),
        },
        "aggregated": _rates_dict(all_codes, n_boot=n_boot, seed=seed),
        "aggregated_gold": _rates_dict(gold_codes, n_boot=n_boot, seed=seed),
        "judgements": _rates_dict(judgement_codes, n_boot=n_boot, seed=seed),
        "wrong_pick": wrong_pick,
        "validators": _validators(by_pk, judgements),
        "agreement_alpha": alpha,
        "agreement_rows": alpha_rows,
        "agreement_measure": AGREEMENT_MEASURE,
        "votes_per_decided_row": _votes_per_decided_row(rows, judgements, groups),
        "median_seconds": float(np.median(seconds)) if seconds else None,
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
