"""When may a validator see the answer to a row, and when may they still undo (plain Python).

The feedback page shows a validator their mistakes with the correct answer. An answer shown
while the validator can still change their vote is a gift: undo, get the row back, choose the
slot whose images match (issue 7, item 1). The rules:

* **Show** a judgement's answer (as a mistake, or counted in the accuracy figures) only once no
  row that the answer gives away can come back to this validator: neither the judged row itself
  nor any *related* row (``rows_related``), in any run. A row can come back
  (``may_come_back``) when

  - the validator's own judgement on it can still be undone (undo window not passed and its
    answer not shown yet), or
  - they have neither judged nor skipped it and it is open, closed (a later routing may reopen
    it), or decided but still inside somebody's undo window (an undo reopens it).

* **Undo** (``may_undo``) only inside the undo window and only if the answer to that row (or a
  related one) has never been shown to the validator. Showing records the time
  (``Judgement.revealed_at``), so raising the undo window later cannot reopen a shown judgement.

* Rows related to an answer already shown are never leased to that validator again (new runs
  can bring the same query back as a new review or gold row).

Two rows are *related* when they share an offer among {query offer, true match}: the answer
"query Q matches T" (or "nothing matches Q") gives away every row asking about Q or T, and
every row whose answer is Q or T.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

OPEN = "open"
DECIDED = "decided"
CLOSED = "closed"

REFUSE_WINDOW = "Nothing to undo (only the last judgement, for a short while)."
REFUSE_SHOWN = (
    "This judgement can no longer be undone: its answer has been shown to you on your "
    "feedback page."
)


def answer_offers(*, query_offer_id: int, truth_offer_id: int | None) -> frozenset[int]:
    """The offers an answer is about: the query and, when known, its true match."""
    return frozenset(x for x in (query_offer_id, truth_offer_id) if x is not None)


def rows_related(
    *, answer: frozenset[int], query_offer_id: int, truth_offer_id: int | None
) -> bool:
    """Does knowing ``answer`` (answer_offers of one row) give away the row (query, truth)?"""
    return query_offer_id in answer or (truth_offer_id is not None and truth_offer_id in answer)


def undo_window_open(*, judged_at: datetime, now: datetime, undo_seconds: float) -> bool:
    return (now - judged_at).total_seconds() <= undo_seconds


@dataclass(frozen=True)
class UndoVerdict:
    allowed: bool
    reason: str = ""


def may_undo(
    *, judged_at: datetime, answer_shown: bool, now: datetime, undo_seconds: float
) -> UndoVerdict:
    """May the validator undo their (latest) judgement? ``answer_shown``: the answer to its row,
    or to a related row, has been shown to them."""
    if answer_shown:
        return UndoVerdict(False, REFUSE_SHOWN)
    if not undo_window_open(judged_at=judged_at, now=now, undo_seconds=undo_seconds):
        return UndoVerdict(False, REFUSE_WINDOW)
    return UndoVerdict(True)


@dataclass(frozen=True)
class RowForViewer:
    """One review or gold row, as far as one validator (the viewer) can still act on it.

    ``viewer_judged_at``: time of the viewer's active (not undone) judgement on it, if any;
    ``viewer_answer_shown``: that judgement's answer has been shown; ``viewer_skipped``: the
    viewer skipped it (never handed to them again); ``last_judged_at``: the newest active
    judgement on it by anyone (a decided row reopens when that one is undone).
    """

    status: str
    viewer_judged_at: datetime | None = None
    viewer_answer_shown: bool = False
    viewer_skipped: bool = False
    last_judged_at: datetime | None = None


def may_come_back(row: RowForViewer, *, now: datetime, undo_seconds: float) -> bool:
    """Can the viewer still cast or re-cast a vote on this row?"""
    if row.viewer_judged_at is not None:
        # their vote stands unless they can undo it
        return may_undo(
            judged_at=row.viewer_judged_at,
            answer_shown=row.viewer_answer_shown,
            now=now,
            undo_seconds=undo_seconds,
        ).allowed
    if row.viewer_skipped:
        return False
    if row.status == DECIDED:
        return row.last_judged_at is not None and undo_window_open(
            judged_at=row.last_judged_at, now=now, undo_seconds=undo_seconds
        )
    # open: may be leased; closed: a later routing may bring it back
    return True


def may_show(
    *, own: RowForViewer, related: Iterable[RowForViewer], now: datetime, undo_seconds: float
) -> bool:
    """May the answer to the viewer's judgement on ``own`` be shown to them now?

    ``related``: every other row related to ``own`` (rows_related), in any run.
    """
    if own.viewer_judged_at is None:
        raise ValueError("feedback is about the viewer's own judgement")
    return not any(may_come_back(r, now=now, undo_seconds=undo_seconds) for r in (own, *related))
