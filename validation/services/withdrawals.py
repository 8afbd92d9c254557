"""Run decisions follow human overrides: an automatic Decision whose pair validators overruled
later is withdrawn (rule: validation/withdrawals.py), and stands again after an undo.

Matching records the human verdicts of a decided review or conflict row and may supersede
automatic acceptances that clash with them (matching/services/products.py); matching never
imports validation, so validation refreshes its own Decisions afterwards: services/review.py
takes :func:`overridden_by_row` before a row's matching calls and :func:`follow_overrides` after.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from functools import reduce
from operator import or_

from django.db.models import Q

from matching import loop_selectors
from validation import withdrawals as rules
from validation.models import Decision


def refresh_withdrawn_decisions(*, pairs: Iterable[tuple[int, int]], now: datetime) -> int:
    """Withdraw or restore the automatic decisions (of any run) on these offer pairs, as their
    automatic acceptances now stand. Returns the number of decisions changed."""
    pairs = {(min(p), max(p)) for p in pairs}
    if not pairs:
        return 0
    by_pair: dict[tuple[int, int], list[rules.Acceptance]] = defaultdict(list)
    for a in loop_selectors.auto_acceptances(pairs):
        q, c = a.query_offer_id, a.candidate_offer_id
        by_pair[(min(q, c), max(q, c))].append(
            rules.Acceptance(
                run_id=a.run_id,
                superseded=a.superseded_by_id is not None,
                overruling_pair=a.overruling_pair,
                overruling_row_id=a.overruling_row_id,
                overruling_rejected=a.overruling_verdict == "rejected",
            )
        )
    which = reduce(
        or_,
        (
            Q(query_offer_id=a, matched_offer_id=b) | Q(query_offer_id=b, matched_offer_id=a)
            for a, b in pairs
        ),
    )
    changed = []
    for d in Decision.objects.filter(which, source=Decision.Source.AUTO).select_for_update():
        q, m = d.query_offer_id, d.matched_offer_id
        reason = rules.withdrawal_reason(
            run_id=d.run_id, acceptances=by_pair[(min(q, m), max(q, m))]
        )
        if reason is None and d.withdrawn_at is not None:
            d.withdrawn_at, d.withdrawn_reason = None, ""
        elif reason is not None and (d.withdrawn_at is None or d.withdrawn_reason != reason[:500]):
            d.withdrawn_at, d.withdrawn_reason = d.withdrawn_at or now, reason[:500]
        else:
            continue
        changed.append(d)
    Decision.objects.bulk_update(changed, ["withdrawn_at", "withdrawn_reason"])
    return len(changed)


def overridden_by_row(*, review_row_id: int) -> set[tuple[int, int]]:
    """The pairs whose automatic acceptances this row's human verdicts supersede now (taken
    before matching records, replaces or withdraws them: :func:`follow_overrides`)."""
    return loop_selectors.pairs_superseded_by_row(review_row_id)


def follow_overrides(*, review_row_id: int, before: set[tuple[int, int]], now: datetime) -> int:
    """After matching wrote one row's human verdicts: refresh the decisions on every pair whose
    automatic acceptance the row's verdicts superseded, before (an undo restores them) or now."""
    after = loop_selectors.pairs_superseded_by_row(review_row_id)
    return refresh_withdrawn_decisions(pairs=before | after, now=now)
