"""The row rules on their own: `check_row` on one record's values, and `content_hash`."""

from decimal import Decimal

import pytest

from matching.catalogue_rows import COLUMNS, RowRejected, check_row, content_hash

HEADER = list(COLUMNS)
POSITIONS = {name: index for index, name in enumerate(HEADER)}
GOOD = {
    "offer_id": " a1 ",
    "shop": "alpha",
    "brand": "Nike",
    "title": "Nike Men Black Shoes",
    "price": "39.9",
    "currency": "eur",
    "sizes": "41|42| 43 |",
    "category": "Shoes",
    "created_at": "2025-01-31",
    "product_id": "",
    "images": "",
}


def values(**change: str) -> list[str]:
    row = {**GOOD, **change}
    return [row[name] for name in HEADER]


def test_check_row_cleans_and_parses_the_fields(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"x")
    row = check_row(values(images=" a.jpg |"), HEADER, POSITIONS, 7, tmp_path.resolve())
    assert (row.line, row.offer_id, row.currency, row.product_id) == (7, "a1", "EUR", None)
    assert row.price == Decimal("39.90") and row.sizes == ["41", "42", "43"]
    assert row.created_at.isoformat() == "2025-01-31"
    assert row.images == ["a.jpg"] and row.image_paths == [str((tmp_path / "a.jpg").resolve())]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"shop": " "}, "shop is empty"),
        ({"price": "1e10"}, "absurdly large"),
        ({"title": "bad\x07bell"}, "title: contains control characters"),
        ({"brand": "caf\udce9"}, "brand: bytes that are not valid UTF-8"),
        ({"sizes": "x" * 51}, "sizes: label longer than 50 characters"),
        ({"images": "|".join(f"i{n}.jpg" for n in range(51))}, "images: 51 files, at most 50"),
    ],
)
def test_check_row_rejects_with_the_reason(tmp_path, change, reason):
    with pytest.raises(RowRejected, match=reason):
        check_row(values(**change), HEADER, POSITIONS, 2, tmp_path.resolve())


def test_check_row_rejects_a_field_count_mismatch(tmp_path):
    with pytest.raises(RowRejected, match="row has 10 fields, the header has 11"):
        check_row(values()[:-1], HEADER, POSITIONS, 2, tmp_path.resolve())


def test_content_hash_changes_with_what_the_encoders_read():
    base = {"text": "nike shoes", "price": Decimal("1.00"), "sizes": ["41"], "checksums": ["c"]}
    same = content_hash(**base)
    assert content_hash(**base) == same and len(same) == 64
    for change in ({"text": "nike shoe"}, {"price": None}, {"sizes": []}, {"checksums": ["d"]}):
        assert content_hash(**{**base, **change}) != same
