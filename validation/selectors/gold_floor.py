"""Which decided review rows may train a model: the gold-accuracy floor of issue 12.

A validator's gold accuracy is the share of their active judgements on gold rows (with ground
truth) that picked the right answer, over all runs (the same measure as the quality report and
the throughput page). A decided review row passes the floor when EVERY validator with an active
judgement on it has a gold accuracy of at least the floor; a validator who never judged a gold
row has no known accuracy and fails it. matching/services/training_labels.py calls this through
the guard the validation app registers (matching never imports validation).
"""

from __future__ import annotations

from collections import defaultdict

from validation.models import Judgement, ReviewRow


def gold_accuracy_by_validator() -> dict[int, tuple[int, int]]:
    """validator id -> (correct, judged) over active judgements on gold rows with truth."""
    out: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    rows = Judgement.objects.filter(undone_at__isnull=True, row__kind=ReviewRow.Kind.GOLD).exclude(
        row__truth=ReviewRow.Truth.UNKNOWN
    )
    for validator, choice, truth, truth_offer in rows.values_list(
        "validator_id", "choice", "row__truth", "row__truth_offer_id"
    ):
        answer = str(truth_offer) if truth == ReviewRow.Truth.MATCH else "none"
        out[validator][0] += choice == answer
        out[validator][1] += 1
    return {v: (c, n) for v, (c, n) in out.items()}


def trusted_review_rows(min_gold_accuracy: float) -> set[int]:
    """Ids of the decided review rows whose validators all meet ``min_gold_accuracy``."""
    if not 0.0 <= min_gold_accuracy <= 1.0:
        raise ValueError("min_gold_accuracy must be in [0, 1]")
    good = {
        v for v, (c, n) in gold_accuracy_by_validator().items() if n and c / n >= min_gold_accuracy
    }
    ok: dict[int, bool] = {}
    for row, validator in Judgement.objects.filter(
        undone_at__isnull=True,
        row__kind=ReviewRow.Kind.REVIEW,
        row__status=ReviewRow.Status.DECIDED,
    ).values_list("row_id", "validator_id"):
        ok[row] = ok.get(row, True) and validator in good
    return {row for row, passed in ok.items() if passed}
