"""The catalogue reader on broken files: unclosed quotes, links and special files (issue 7)."""

import os
from pathlib import Path

import pytest

from matching.catalogue import MAX_RECORD_LINES, CatalogueError, count_rows, read_catalogue
from matching.catalogue_rows import CatalogueRow, RowError

pytestmark = pytest.mark.sqlite

HEADER = "offer_id,shop,brand,title,price,currency,sizes,category,created_at,product_id,images\n"


def valid(offer_id: str, title: str = "Plain shirt") -> str:
    return f"{offer_id},shop,Acme,{title},1,EUR,,,,,\n"


def write(folder: Path, *lines: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "offers.csv").write_text(HEADER + "".join(lines), encoding="utf-8")
    return folder


def split(folder: Path):
    items = list(read_catalogue(folder))
    return [i for i in items if isinstance(i, CatalogueRow)], [
        i for i in items if isinstance(i, RowError)
    ]


def test_unclosed_quote_loses_no_row(tmp_path):
    folder = write(
        tmp_path / "c",
        valid("a1"),
        'b1,shop,Acme,"T unterminated,1,EUR,,,,,\n',
        *[valid(f"c{i}") for i in range(5)],
    )
    rows, errors = split(folder)
    assert [r.offer_id for r in rows] == ["a1", "c0", "c1", "c2", "c3", "c4"]
    assert [r.line for r in rows] == [2, 4, 5, 6, 7, 8]
    (error,) = errors
    assert (error.line, error.offer_id) == (3, "b1")
    assert "unclosed quote: a quoted field opened on line 3" in error.reason
    assert "still open at the end of the file (line 8)" in error.reason


def test_unclosed_quote_closed_by_a_later_row_loses_no_row(tmp_path):
    folder = write(
        tmp_path / "c",
        'b1,shop,Acme,"T unterminated,1,EUR,,,,,\n',
        valid("c1"),
        valid("c2", title='"Quoted, title"'),
        valid("c3"),
    )
    rows, (error,) = split(folder)
    assert [(r.offer_id, r.line) for r in rows] == [("c1", 3), ("c2", 4), ("c3", 5)]
    assert rows[1].title == "Quoted, title"
    assert error.line == 2 and "closes on line 4" in error.reason


def test_unclosed_quote_longer_than_the_record_limit(tmp_path):
    rows_after = [valid(f"c{i}") for i in range(MAX_RECORD_LINES + 5)] + [
        valid("q", title='"a, b"')
    ]
    folder = write(tmp_path / "c", 'b1,shop,Acme,"T open,1,EUR,,,,,\n', *rows_after)
    rows, (error,) = split(folder)
    assert len(rows) == MAX_RECORD_LINES + 6
    assert error.line == 2
    assert f"still open on line {MAX_RECORD_LINES + 1}" in error.reason


def test_quoted_field_may_span_lines(tmp_path):
    folder = write(
        tmp_path / "c",
        'a1,shop,Acme,"two\nline title",1,EUR,,,,,\n',
        'a2,shop,Acme,"three\nline\ntitle",1,EUR,,,,,\n',
        valid("a3"),
    )
    rows, errors = split(folder)
    assert errors == []
    assert [(r.offer_id, r.line, r.title) for r in rows] == [
        ("a1", 2, "two\nline title"),
        ("a2", 4, "three\nline\ntitle"),
        ("a3", 7, "Plain shirt"),
    ]


def test_symlinked_offers_file_outside_the_folder_is_refused(tmp_path):
    outside = write(tmp_path / "elsewhere", valid("secret"))
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "offers.csv").symlink_to(outside / "offers.csv")
    with pytest.raises(CatalogueError, match="link that leads outside the catalogue folder"):
        list(read_catalogue(folder))
    with pytest.raises(CatalogueError):
        count_rows(folder)


def test_symlinked_offers_file_inside_the_folder_is_read(tmp_path):
    folder = write(tmp_path / "c" / "sub", valid("a1")).parent
    (folder / "offers.csv").symlink_to(folder / "sub" / "offers.csv")
    rows, errors = split(folder)
    assert [r.offer_id for r in rows] == ["a1"] and errors == []


def test_offers_file_that_is_a_fifo_is_refused_without_blocking(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    os.mkfifo(folder / "offers.csv")
    with pytest.raises(CatalogueError, match="not a regular file"):
        list(read_catalogue(folder))


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_image_that_is_not_a_regular_file(tmp_path, kind):
    folder = write(tmp_path / "c", "a1,shop,Acme,T,1,EUR,,,,,img/x.jpg\n", valid("a2"))
    (folder / "img").mkdir()
    if kind == "fifo":
        os.mkfifo(folder / "img/x.jpg")
    else:
        (folder / "img/x.jpg").mkdir()
    rows, (error,) = split(folder)
    assert [r.offer_id for r in rows] == ["a2"]
    assert error.line == 2
    assert error.reason == "image file 'img/x.jpg' is not a regular file"
