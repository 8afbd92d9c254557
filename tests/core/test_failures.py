import pytest

from core.failures import failure_message, marks_failed


class Row:
    class Status:
        FAILED = "failed"

    def __init__(self):
        self.status, self.error, self.saved = "running", "", []

    def save(self, *, update_fields):
        self.saved.append(sorted(update_fields))


def test_marks_failed_records_and_reraises():
    row = Row()
    with pytest.raises(ValueError, match="boom"), marks_failed(row):
        raise ValueError("boom")
    assert (row.status, row.error) == ("failed", "ValueError: boom")
    assert row.saved == [["error", "status"]]


def test_marks_failed_leaves_success_alone_and_takes_another_status():
    row = Row()
    with marks_failed(row):
        pass
    assert row.status == "running" and row.saved == []
    with pytest.raises(KeyError), marks_failed(row, status="interrupted"):
        raise KeyError("x")
    assert row.status == "interrupted" and row.error == failure_message(KeyError("x"))
