"""core/csv_safe.py: no cell the app writes starts with a formula character."""

import csv
import io

import pytest

from core import csv_safe

DANGEROUS = ["=", "+", "-", "@", "\t", "\r"]


@pytest.mark.parametrize("first", DANGEROUS)
def test_text_starting_with_a_formula_character_gets_an_apostrophe(first):
    value = first + 'HYPERLINK("http://x")'
    assert csv_safe.safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["abc", "1+1", "", " =1", "'=1", "a=b", "0.5", "x@y"])
def test_other_text_is_written_as_is(value):
    assert csv_safe.safe_cell(value) == value


def test_numbers_the_app_writes_are_data_not_formulas():
    assert csv_safe.safe_cell(-0.12) == -0.12
    assert csv_safe.safe_cell(-3) == -3
    assert csv_safe.safe_cell(csv_safe.number(-0.12, digits=6)) == "-0.120000"
    assert csv_safe.safe_cell(None) is None
    # text that merely looks like a number came from outside: it is neutralised
    assert csv_safe.safe_cell("-1+1") == "'-1+1"
    assert csv_safe.safe_cell("-5") == "'-5"
    with pytest.raises(TypeError):
        csv_safe.number("-1+1", digits=2)


def test_writer_round_trip():
    buf = io.StringIO()
    w = csv_safe.writer(buf)
    w.writerow(["id", "name", "score"])
    w.writerows(
        [[f"{c}1", f'{c}shop, "quoted"\nline', csv_safe.number(-0.5, digits=3)] for c in DANGEROUS]
    )
    rows = list(csv.reader(io.StringIO(buf.getvalue(), newline="")))
    assert rows[0] == ["id", "name", "score"]
    for c, row in zip(DANGEROUS, rows[1:], strict=True):
        assert row == [f"'{c}1", f'\'{c}shop, "quoted"\nline', "-0.500"]
        assert not any(cell.startswith(tuple(DANGEROUS)) for cell in row[:2])
