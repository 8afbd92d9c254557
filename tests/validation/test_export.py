"""validation/export.py: the one-to-one rule and CSV writing."""

from __future__ import annotations

import io

from validation.export import ExportRow, one_to_one, write_csv

# --------------------------------------------------------------------------- export


def _row(q, m, decision="auto", sim=0.9, votes=0, shop="A"):
    return ExportRow(
        q, m, f"q{q}", shop, f"m{m}", "B", sim, decision, votes, 3 if votes else 0, "t"
    )


def test_one_to_one_prefers_human_then_similarity():
    rows = [
        _row(1, 10, sim=0.99),
        _row(2, 10, decision="human", sim=0.6, votes=3),
        _row(3, 11, sim=0.7),
        _row(4, 11, sim=0.8),
        _row(5, 11, sim=0.8, shop="C"),  # other query shop: no conflict
    ]
    kept, dropped = one_to_one(rows)
    assert dropped == 2
    assert {(r.query_pk, r.matched_pk) for r in kept} == {(2, 10), (4, 11), (5, 11)}


def test_write_csv_columns():
    buf = io.StringIO()
    assert write_csv([_row(1, 10)], buf) == 1
    header, line = buf.getvalue().splitlines()
    assert header == (
        "query_offer_id,query_shop,matched_offer_id,matched_shop,similarity,decision,"
        "votes_for,votes_total,decided_at"
    )
    assert line == "q1,A,m10,B,0.900000,auto,0,0,t"
