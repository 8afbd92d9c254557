"""A run's active judgements, counted (pure, no ORM): everything the quality report reads of the
judgements (validation/quality_report.py), as counts a database can compute with one GROUP BY
(validation/selectors/quality_votes.py) instead of handing over every judgement.

* ``by_validator``: judgements on rows with ground truth, counted by validator, outcome code
  (quality.code_of: TP, FN, FP, TN), whether the choice is the right answer, and whether the row
  is a gold row: the single-judgement confusion matrix, each validator's accuracy, gold accuracy,
  TPR and FPR;
* ``first_two``: rows with at least two judgements, counted by the candidate ranks (-1: none,
  or a choice that is not a candidate) of their first two judgements in recorded order:
  Krippendorff's alpha (validation/agreement.py: krippendorff_alpha_nominal_pairs);
* ``on_decided``: judgements on decided rows (votes per decided row);
* ``median_seconds``: the median time spent on a judgement.

:func:`of_facts` counts them from row and judgement facts, as the report did judgement by
judgement; the database's counts must be the same (tests/validation/selectors/
test_quality_votes.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from validation import quality

NO_RANK = -1  # the rank of "none" and of any choice that is not one of the row's candidates


@dataclass(frozen=True)
class VoteCounts:
    # (validator, outcome code, right answer, gold row) -> judgements (rows with ground truth)
    by_validator: Mapping[tuple[str, int, bool, bool], int] = field(default_factory=dict)
    # (rank of the first judgement, rank of the second) -> rows
    first_two: Mapping[tuple[int, int], int] = field(default_factory=dict)
    on_decided: int = 0
    median_seconds: float | None = None

    def code_counts(self) -> tuple[int, int, int, int]:
        """TP, FN, FP, TN of the single judgements on rows with ground truth."""
        c = [0, 0, 0, 0]
        for (_, code, _, _), n in self.by_validator.items():
            c[code] += n
        return c[quality.TP], c[quality.FN], c[quality.FP], c[quality.TN]


def codes_array(counts: Sequence[int]) -> np.ndarray:
    """The outcome codes with these counts (TP, FN, FP, TN), for the bootstraps (they read the
    codes' counts only, so their order does not matter)."""
    return np.repeat(np.arange(4), np.asarray(counts, dtype=np.int64))


def median(values: Iterable[float]) -> float | None:
    """The median as the report gives it (numpy's), None without values."""
    values = list(values)
    return float(np.median(values)) if values else None


def median_of_middles(lower: float | None, upper: float | None) -> float | None:
    """The median from the two middle values of the sorted values (the same value twice when
    their number is odd), equal to :func:`median` to the last bit (numpy averages the two
    middle values the same way)."""
    if lower is None or upper is None:
        return None
    return float(np.mean(np.array([lower, upper], dtype=float)))


def rank_of(choice: str, candidate_ids: Sequence) -> int:
    """The first position of ``choice`` among the row's candidates (as strings), else
    :data:`NO_RANK`."""
    for i, x in enumerate(candidate_ids):
        if str(x) == choice:
            return i
    return NO_RANK


def of_facts(
    *, rows: Iterable[quality.RowFacts], judgements: Sequence[quality.JudgementFacts]
) -> VoteCounts:
    """The counts of ``judgements`` (active, ordered by row and, within a row, in recorded
    order) on ``rows`` (facts of every row they are on), judgement by judgement."""
    by_pk = {r.pk: r for r in rows}
    by_validator: Counter = Counter()
    first_two: dict[int, list[int]] = {}
    on_decided = 0
    for j in judgements:
        row = by_pk[j.row_id]
        on_decided += row.status == quality.DECIDED
        if row.truth != quality.TRUTH_UNKNOWN:
            answer = quality.answer_of(truth=row.truth, truth_offer_id=row.truth_offer_id)
            key = (
                j.validator,
                quality.code_of(row, j.choice),
                j.choice == answer,
                row.kind == quality.GOLD_ROW,
            )
            by_validator[key] += 1
        ranks = first_two.setdefault(j.row_id, [])
        if len(ranks) < 2:
            ranks.append(rank_of(j.choice, row.candidate_ids))
    return VoteCounts(
        by_validator=dict(by_validator),
        first_two=dict(Counter(tuple(u) for u in first_two.values() if len(u) == 2)),
        on_decided=on_decided,
        median_seconds=median(j.seconds_spent for j in judgements),
    )
