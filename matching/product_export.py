"""The offer -> product feed as CSV (``export_products`` command and the admin download)."""

from __future__ import annotations

from datetime import date
from typing import TextIO

from core import csv_safe
from matching import loop_selectors


def write_products_csv(out: TextIO, *, since: date | None = None, shop: str | None = None) -> int:
    """Write the header and one row per offer in a product; returns the number of offers.

    Columns: offer_id, shop, product_key, decided_by (auto|human), updated_at. Cells pass
    through core.csv_safe (formula neutralisation). ``since``: offers whose membership changed
    on or after that day; ``shop``: one shop's offers.
    """
    writer = csv_safe.writer(out)
    writer.writerow(loop_selectors.EXPORT_COLUMNS)
    n = 0
    for row in loop_selectors.export_rows(since=since, shop=shop):
        writer.writerow(row)
        n += 1
    return n
