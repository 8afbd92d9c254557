"""validation/truth_file.py: parsing, resolving and deciding rows from a truth file (no DB)."""

from __future__ import annotations

import io

import pytest

from validation import truth_file
from validation.truth_file import TruthFileError, parse, resolve, row_truth


def _parse(text: str):
    return parse(io.StringIO(text))


def test_parse_reads_entries_with_line_numbers_and_ignores_other_columns():
    entries = _parse("shop,offer_id,title,product_id\nabt,1,TV,p1\nbuy, 2 ,x,p2\nabt,1,TV,p1\n")
    assert [(e.line, e.shop, e.offer_id, e.product_id) for e in entries] == [
        (2, "abt", "1", "p1"),
        (3, "buy", "2", "p2"),
    ]


def test_missing_columns_are_named():
    with pytest.raises(TruthFileError, match="missing column\\(s\\) shop, product_id"):
        _parse("offer_id,product\n1,p1\n")
    with pytest.raises(TruthFileError, match="missing column"):
        _parse("")


def test_bad_lines_are_all_listed_with_their_numbers():
    text = "offer_id,shop,product_id\n1,abt,p1\n2,abt,\n,abt,p3\n1,abt,p9\n"
    with pytest.raises(TruthFileError) as exc:
        _parse(text)
    assert exc.value.errors == [
        "line 3: empty product_id",
        "line 4: empty offer_id",
        "line 5: offer '1' of shop 'abt' again, with product 'p9' (line 2: 'p1')",
    ]
    assert "line 3" in str(exc.value) and "line 5" in str(exc.value)


def test_header_only_is_an_error():
    with pytest.raises(TruthFileError, match="no entries"):
        _parse("offer_id,shop,product_id\n")


def test_resolve_names_unknown_shops_and_offers_by_line():
    entries = _parse("offer_id,shop,product_id\n1,abt,p1\n2,abt,p2\n3,nope,p3\n")
    known = {("abt", "1"): 11}
    with pytest.raises(TruthFileError) as exc:
        resolve(entries, known_shops={"abt"}, known=known)
    assert exc.value.errors == [
        "line 3: unknown offer '2' of shop 'abt'",
        "line 4: unknown shop 'nope'",
    ]
    assert resolve(entries[:1], known_shops={"abt"}, known=known) == {11: "p1"}


def test_long_error_lists_are_cut_in_the_message():
    err = TruthFileError([f"line {i}: x" for i in range(2, 40)])
    assert len(err.errors) == 38 and "and 18 more" in str(err)


def test_row_truth_file_beats_catalogue_and_catalogue_fills_in():
    catalogue = {1: None, 2: "a", 3: "b", 4: None}
    # the query's product comes from the file; candidate 3 has it in the catalogue
    assert row_truth(
        query_offer_id=1, candidate_ids=[2, 3], truth={1: "b"}, catalogue=catalogue
    ) == (
        "match",
        3,
    )
    # the file overrides a candidate's catalogue product
    assert row_truth(
        query_offer_id=1, candidate_ids=[2, 3], truth={1: "b", 3: "c"}, catalogue=catalogue
    ) == ("none", None)
    # a candidate without any product: unknown unless the true one is found
    assert row_truth(
        query_offer_id=1, candidate_ids=[2, 4], truth={1: "z"}, catalogue=catalogue
    ) == (
        "unknown",
        None,
    )
    assert row_truth(
        query_offer_id=1, candidate_ids=[4, 2], truth={1: "a"}, catalogue=catalogue
    ) == (
        "match",
        2,
    )
    # no product for the query: unknown
    assert row_truth(query_offer_id=4, candidate_ids=[2, 3], truth={}, catalogue=catalogue) == (
        "unknown",
        None,
    )


def test_pure_module():
    with open(truth_file.__file__, encoding="utf-8") as fh:
        source = fh.read()
    assert "django" not in source and "models" not in source
