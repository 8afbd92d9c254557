"""The catalogue reader: format checks, row by row, without the database."""

from pathlib import Path

import pytest

from matching.catalogue import CatalogueError, read_catalogue
from matching.catalogue_rows import CatalogueRow, RowError

pytestmark = pytest.mark.sqlite

GOOD = {
    "offer_id": "a1",
    "shop": "alpha",
    "brand": "Nike",
    "title": "Nike Men Black Shoes",
    "price": "39.95",
    "currency": "eur",
    "sizes": "41|42| 43 ",
    "category": "Shoes",
    "created_at": "2025-01-31",
    "product_id": "p1",
}


def rows_and_errors(folder: Path):
    items = list(read_catalogue(folder))
    return [i for i in items if isinstance(i, CatalogueRow)], [
        i for i in items if isinstance(i, RowError)
    ]


def test_good_row_is_parsed(write_catalogue):
    folder = write_catalogue([{**GOOD, "images": [("img/a1.jpg", (200, 10, 10))]}])
    (row,), errors = rows_and_errors(folder)
    assert errors == []
    assert row.line == 2
    assert str(row.price) == "39.95"
    assert row.currency == "EUR"
    assert row.sizes == ["41", "42", "43"]
    assert row.created_at.isoformat() == "2025-01-31"
    assert row.image_paths == [str((folder / "img/a1.jpg").resolve())]


def test_text_only_offer_and_empty_optionals(write_catalogue):
    folder = write_catalogue([{"offer_id": "t", "shop": "s", "title": "Plain title", "images": ""}])
    (row,), errors = rows_and_errors(folder)
    assert errors == []
    assert (row.price, row.created_at, row.product_id, row.images, row.brand) == (
        None,
        None,
        None,
        [],
        "",
    )


def test_missing_required_column_is_a_file_level_error(write_catalogue):
    folder = write_catalogue([GOOD], columns=("offer_id", "shop", "brand", "price"))
    with pytest.raises(CatalogueError, match="missing required column.*title"):
        list(read_catalogue(folder))


def test_no_offers_file(tmp_path):
    with pytest.raises(CatalogueError, match="no offers.csv"):
        list(read_catalogue(tmp_path))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"price": "12,50"}, "price '12,50' is not a number"),
        ({"price": "abc"}, "is not a number"),
        ({"price": "-3"}, "price '-3' is negative"),
        ({"price": "NaN"}, "not a finite number"),
        ({"created_at": "2024-02-30"}, "is not a real date"),
        ({"created_at": "31/01/2024"}, "not a date in YYYY-MM-DD form"),
        ({"title": "   "}, "title is empty"),
        ({"offer_id": ""}, "offer_id is empty"),
        ({"title": "x" * 5000}, "title: too long (5000 characters, at most 1000)"),
        ({"brand": "b" * 300}, "brand: too long"),
        ({"sizes": "|".join(str(i) for i in range(150))}, "sizes: 150 labels"),
        ({"currency": "EURO"}, "not a 3-letter ISO code"),
        ({"images": "../../etc/passwd"}, "leaves the catalogue folder"),
        ({"images": "/etc/passwd"}, "is absolute"),
        ({"images": "img/missing.jpg"}, "image file 'img/missing.jpg' is missing"),
    ],
)
def test_bad_rows_are_rejected_with_line_and_reason(write_catalogue, change, reason):
    other = {**GOOD, "offer_id": "ok"}
    folder = write_catalogue([other, {**GOOD, **change}, {**other, "offer_id": "ok2"}])
    rows, errors = rows_and_errors(folder)
    assert [row.offer_id for row in rows] == ["ok", "ok2"]  # valid rows are kept
    (error,) = errors
    assert error.line == 3
    assert error.file == "offers.csv"
    assert reason in error.reason


def test_symlink_leaving_the_folder_is_rejected(write_catalogue, tmp_path):
    outside = tmp_path / "secret.jpg"
    outside.write_bytes(b"x")
    folder = write_catalogue([{**GOOD, "images": "link.jpg"}])
    (folder / "link.jpg").symlink_to(outside)
    _, (error,) = rows_and_errors(folder)
    assert "leaves the catalogue folder" in error.reason


def test_image_paths_resolve_through_cached_folders_and_links(write_catalogue, tmp_path):
    """The reader caches each image folder's real path: links are still followed per file and
    per folder, a folder link that leads outside is refused on every row that uses it."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "a.jpg").write_bytes(b"x")
    rows = [
        {**GOOD, "offer_id": "plain", "images": [("img/p.jpg", (1, 2, 3))]},
        {**GOOD, "offer_id": "dots", "images": "img/../img/p.jpg"},
        {**GOOD, "offer_id": "link", "images": "img/l.jpg"},
        {**GOOD, "offer_id": "out1", "images": "away/a.jpg"},
        {**GOOD, "offer_id": "out2", "images": "away/a.jpg"},
        {**GOOD, "offer_id": "up", "images": "img/../.."},
        {**GOOD, "offer_id": "dir", "images": "img"},
    ]
    folder = write_catalogue(rows)
    (folder / "img" / "l.jpg").symlink_to(folder / "img" / "p.jpg")
    (folder / "away").symlink_to(outside)
    found, errors = rows_and_errors(folder)
    real = str((folder / "img" / "p.jpg").resolve())
    assert {r.offer_id: r.image_paths for r in found} == {
        "plain": [real],
        "dots": [real],
        "link": [real],
    }
    assert [(e.offer_id, e.reason.split(" ", 3)[-1]) for e in errors] == [
        ("out1", "leaves the catalogue folder"),
        ("out2", "leaves the catalogue folder"),
        ("up", "leaves the catalogue folder"),
        ("dir", "is not a regular file"),
    ]


def test_duplicate_offer_id_within_a_file(write_catalogue):
    folder = write_catalogue([GOOD, {**GOOD, "title": "other"}, {**GOOD, "shop": "beta"}])
    rows, (error,) = rows_and_errors(folder)
    assert [(r.shop, r.line) for r in rows] == [("alpha", 2), ("beta", 4)]
    assert error.line == 3
    assert "duplicate offer_id 'a1' in shop 'alpha' (first seen on line 2)" in error.reason


def test_non_utf8_bytes_reject_only_their_row(write_catalogue):
    folder = write_catalogue([GOOD, {**GOOD, "offer_id": "a2"}])
    path = folder / "offers.csv"
    data = path.read_bytes().replace(b"Nike Men Black Shoes,", b"Nike Men \xff\xfe Shoes,", 1)
    path.write_bytes(data)
    rows, (error,) = rows_and_errors(folder)
    assert [r.offer_id for r in rows] == ["a2"]
    assert error.line == 2
    assert "not valid UTF-8" in error.reason


def test_line_numbers_count_quoted_newlines(write_catalogue):
    folder = write_catalogue(
        [{**GOOD, "title": "two\nlines"}, {**GOOD, "offer_id": "bad", "price": "-1"}]
    )
    _, (error,) = rows_and_errors(folder)
    assert error.line == 4


def test_wrong_number_of_fields(write_catalogue):
    folder = write_catalogue([GOOD])
    with (folder / "offers.csv").open("a") as handle:
        handle.write("x,y,z\n")
    _, (error,) = rows_and_errors(folder)
    assert "row has 3 fields, the header has 11" in error.reason
