"""validation/feedback_rules.py: when an answer may be shown and a judgement undone (no DB)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from validation import feedback_rules as fr
from validation.feedback_rules import RowForViewer

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
WINDOW = 60


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def show(own, *related):
    return fr.may_show(own=own, related=related, now=NOW, undo_seconds=WINDOW)


# --------------------------------------------------------------------------- undo


def test_undo_inside_window_only():
    assert fr.may_undo(judged_at=ago(10), answer_shown=False, now=NOW, undo_seconds=WINDOW).allowed
    assert fr.may_undo(judged_at=ago(60), answer_shown=False, now=NOW, undo_seconds=WINDOW).allowed
    v = fr.may_undo(judged_at=ago(61), answer_shown=False, now=NOW, undo_seconds=WINDOW)
    assert not v.allowed and v.reason == fr.REFUSE_WINDOW


def test_undo_refused_once_answer_shown_even_inside_a_longer_window():
    v = fr.may_undo(judged_at=ago(5), answer_shown=True, now=NOW, undo_seconds=10_000)
    assert not v.allowed
    assert "shown" in v.reason and "feedback" in v.reason


# --------------------------------------------------------------------------- show


def test_own_judgement_hidden_while_undoable():
    assert not show(RowForViewer(status=fr.OPEN, viewer_judged_at=ago(5)))
    assert not show(RowForViewer(status=fr.DECIDED, viewer_judged_at=ago(60)))


def test_own_judgement_shown_after_window_when_nothing_related_is_open():
    assert show(RowForViewer(status=fr.DECIDED, viewer_judged_at=ago(61)))
    # the row may still be open for others: the viewer cannot judge it again
    assert show(RowForViewer(status=fr.OPEN, viewer_judged_at=ago(61)))


def test_shown_judgement_stays_shown_when_window_grows():
    own = RowForViewer(status=fr.DECIDED, viewer_judged_at=ago(61), viewer_answer_shown=True)
    assert fr.may_show(own=own, related=[], now=NOW, undo_seconds=10_000)


def test_own_row_required():
    with pytest.raises(ValueError, match="own judgement"):
        show(RowForViewer(status=fr.OPEN))


@pytest.mark.parametrize("status", [fr.OPEN, fr.CLOSED])
def test_related_row_still_open_to_viewer_hides_answer(status):
    own = RowForViewer(status=fr.DECIDED, viewer_judged_at=ago(600))
    # e.g. the same query as a gold row of another run, not judged by the viewer yet;
    # a closed row may be reopened by a later routing
    assert not show(own, RowForViewer(status=status))


def test_related_row_skipped_or_judged_for_good_does_not_hide():
    own = RowForViewer(status=fr.DECIDED, viewer_judged_at=ago(600))
    assert show(own, RowForViewer(status=fr.OPEN, viewer_skipped=True))
    assert show(own, RowForViewer(status=fr.OPEN, viewer_judged_at=ago(61)))
    # ... but not while the viewer can still undo their vote there
    assert not show(own, RowForViewer(status=fr.OPEN, viewer_judged_at=ago(30)))


def test_related_decided_row_hides_until_nobody_can_reopen_it():
    own = RowForViewer(status=fr.DECIDED, viewer_judged_at=ago(600))
    assert not show(own, RowForViewer(status=fr.DECIDED, last_judged_at=ago(30)))
    assert show(own, RowForViewer(status=fr.DECIDED, last_judged_at=ago(61)))


def test_rows_related_by_query_or_true_match():
    answer = fr.answer_offers(query_offer_id=1, truth_offer_id=7)
    assert answer == {1, 7}
    assert fr.rows_related(answer=answer, query_offer_id=1, truth_offer_id=None)  # same query
    assert fr.rows_related(answer=answer, query_offer_id=7, truth_offer_id=1)  # reverse run
    assert fr.rows_related(answer=answer, query_offer_id=3, truth_offer_id=7)  # same true match
    assert not fr.rows_related(answer=answer, query_offer_id=3, truth_offer_id=4)
    assert not fr.rows_related(answer=answer, query_offer_id=3, truth_offer_id=None)
    none_answer = fr.answer_offers(query_offer_id=1, truth_offer_id=None)
    assert none_answer == {1}
