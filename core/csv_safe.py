"""CSV files the app writes, safe to open in a spreadsheet (no formula injection).

Rule (OWASP, "CSV Injection"): a text cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return would be read as a formula by Excel / LibreOffice / Sheets; such a cell gets a
leading apostrophe (``'=1+1``), which the spreadsheet shows as the text itself. Every CSV the
app writes goes through :func:`writer`, which applies :func:`safe_cell` to every text cell.

Numbers the app itself writes are data, not formulas: cells of type int or float (and numbers
the app formatted with :func:`number`) are written as they are, so a similarity of -0.12 stays
``-0.120000``. Any other text, including ids and names that look like numbers (an offer id
``-1+1`` or ``-5``), is text from outside and is neutralised.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, TextIO

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class FormattedNumber(str):
    """Text the app made from a number (see :func:`number`): written without an apostrophe."""

    __slots__ = ()


def number(value: float | int, *, digits: int) -> FormattedNumber:
    """A number written with a fixed number of decimals, e.g. ``number(-0.12, digits=6)``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"number() takes an int or float, not {type(value).__name__}")
    return FormattedNumber(f"{value:.{digits}f}")


def safe_cell(value: Any) -> Any:
    """The value to write for one cell: text starting with a formula character gets a "'"."""
    if isinstance(value, FormattedNumber | bool | int | float) or value is None:
        return value
    text = value if isinstance(value, str) else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


class SafeWriter:
    """``csv.writer`` whose rows pass through :func:`safe_cell`."""

    def __init__(self, out: TextIO, **fmtparams: Any) -> None:
        self._writer = csv.writer(out, **fmtparams)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([safe_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(out: TextIO, **fmtparams: Any) -> SafeWriter:
    return SafeWriter(out, **fmtparams)
