"""Reading and checking the catalogue format (see README, "Catalogue format").

A catalogue is a folder with `offers.csv` and the image files it names. `read_catalogue`
streams the rows one at a time and yields either a checked `CatalogueRow` or a `RowError`
naming the file, line and reason (the row rules live in `matching.catalogue_rows`). Problems
with the file as a whole (no offers.csv, missing required columns, an unreadable header) raise
`CatalogueError`. This module handles the file: its safety checks, the header, and records
that span lines or never close their quote.
"""

from __future__ import annotations

import csv
import os
import stat
from collections import deque
from collections.abc import Iterator
from pathlib import Path

from matching.catalogue_rows import (
    COLUMNS,
    MAX_LENGTH,
    REQUIRED_COLUMNS,
    CatalogueRow,
    RowError,
    RowRejected,
    check_row,
    has_surrogates,
)

OFFERS_FILE = "offers.csv"
# A quoted field may span lines, but one record may span at most this many physical lines;
# a quote still open after them (or at the end of the file) is an unclosed quote.
MAX_RECORD_LINES = 20
# csv refuses fields over its limit by raising for the whole file; raise the limit well above
# MAX_LENGTH so that long fields are read and rejected row by row with a clear reason.
csv.field_size_limit(16 * 1024 * 1024)


class CatalogueError(Exception):
    """The catalogue as a whole cannot be read (no rows are imported)."""


def count_rows(directory: Path) -> int:
    """Cheap upper bound of the number of data rows (for progress bars)."""
    path = check_catalogue(directory)
    with path.open("rb") as handle:
        return max(
            sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b"")) - 1, 0
        )


def check_catalogue(directory: Path | str) -> Path:
    """The catalogue's offers.csv, checked without reading it (raises `CatalogueError`).

    offers.csv must be a regular file inside the folder: a symlink that leads outside the
    folder, a FIFO, a directory or a device is refused (checked with stat before opening, so
    a FIFO never blocks the import).
    """
    root = Path(directory)
    if not root.is_dir():
        raise CatalogueError(f"{root}: not a folder")
    path = root / OFFERS_FILE
    resolved_root = root.resolve()
    resolved = path.resolve()
    if not resolved.is_relative_to(resolved_root):
        raise CatalogueError(f"{path}: is a link that leads outside the catalogue folder")
    try:
        mode = os.stat(resolved).st_mode
    except FileNotFoundError:
        raise CatalogueError(f"{root}: no {OFFERS_FILE} in the catalogue folder") from None
    if not stat.S_ISREG(mode):
        raise CatalogueError(f"{path}: not a regular file")
    return resolved


class _RecordTooLong(Exception):
    pass


class _Lines:
    """Physical lines of offers.csv for csv.reader, numbered, with push-back.

    Remembers the lines taken by the record being read, so that a record that ran away (an
    unclosed quote) can be rejected by its first line and the lines after it read again.
    """

    def __init__(self, handle, *, first_line: int, limit: int) -> None:
        self._handle = handle
        self._next = first_line
        self._limit = limit
        self._pushback: deque[tuple[int, str]] = deque()
        self.taken: list[tuple[int, str]] = []
        self.hit_eof = False

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if len(self.taken) >= self._limit:
            raise _RecordTooLong
        if self._pushback:
            item = self._pushback.popleft()
        else:
            text = self._handle.readline()
            if not text:
                self.hit_eof = True
                raise StopIteration
            item = (self._next, text)
            self._next += 1
        self.taken.append(item)
        return item[1]

    def start_record(self) -> None:
        self.taken = []
        self.hit_eof = False

    def read_again_after_first(self) -> None:
        """Push back every line of the current record except its first."""
        self._pushback.extendleft(reversed(self.taken[1:]))
        self.taken = self.taken[:1]


def read_catalogue(directory: Path | str) -> Iterator[CatalogueRow | RowError]:
    root = Path(directory)
    path = check_catalogue(root)
    resolved_root = root.resolve()
    # surrogateescape keeps undecodable bytes as lone surrogates, so one bad row is reported
    # with its line instead of the decoder failing for the whole file.
    with path.open(encoding="utf-8", errors="surrogateescape", newline="") as handle:
        first = handle.readline()
        if not first.strip():
            raise CatalogueError(f"{path}: empty file (no header row)")
        try:
            header = next(csv.reader([first]))
        except csv.Error as exc:
            raise CatalogueError(f"{path}:1: unreadable header: {exc}") from None
        header = [name.strip().lstrip("\ufeff") for name in header]
        if any(has_surrogates(name) for name in header):
            raise CatalogueError(f"{path}:1: header is not valid UTF-8")
        missing = [name for name in REQUIRED_COLUMNS if name not in header]
        if missing:
            raise CatalogueError(
                f"{path}:1: missing required column(s): {', '.join(missing)} "
                f"(expected columns: {', '.join(COLUMNS)})"
            )
        duplicated = sorted({name for name in header if header.count(name) > 1})
        if duplicated:
            raise CatalogueError(f"{path}:1: duplicated column(s): {', '.join(duplicated)}")
        positions = {name: header.index(name) for name in COLUMNS if name in header}
        lines = _Lines(handle, first_line=2, limit=MAX_RECORD_LINES)
        reader = csv.reader(lines)
        seen: dict[tuple[str, str], int] = {}
        folders: dict[str, str] = {}  # real paths of the image folders, for this read
        while True:
            lines.start_record()
            try:
                values = next(reader)
            except StopIteration:
                return
            except _RecordTooLong:
                yield _runaway_record(
                    lines,
                    f"is still open on line {lines.taken[-1][0]} "
                    f"(a record may span at most {MAX_RECORD_LINES} lines)",
                )
                reader = csv.reader(lines)
                continue
            except csv.Error as exc:
                yield RowError(OFFERS_FILE, lines.taken[0][0], f"malformed CSV: {exc}")
                reader = csv.reader(lines)
                continue
            start = lines.taken[0][0]
            if lines.hit_eof:
                yield _runaway_record(
                    lines, f"is still open at the end of the file (line {lines.taken[-1][0]})"
                )
                reader = csv.reader(lines)
                continue
            if len(lines.taken) > 1 and len(values) != len(header):
                yield _runaway_record(
                    lines,
                    f"closes on line {lines.taken[-1][0]} but the record then has "
                    f"{len(values)} fields, the header has {len(header)}",
                )
                reader = csv.reader(lines)
                continue
            if not values or all(not value.strip() for value in values):
                continue  # blank line
            offer_id = (
                values[positions["offer_id"]].strip() if len(values) > positions["offer_id"] else ""
            )
            offer_id = "" if has_surrogates(offer_id) else offer_id[: MAX_LENGTH["offer_id"]]
            try:
                row = check_row(values, header, positions, start, resolved_root, folders=folders)
            except RowRejected as exc:
                yield RowError(OFFERS_FILE, start, str(exc), offer_id)
                continue
            key = (row.shop, row.offer_id)
            if key in seen:
                yield RowError(
                    OFFERS_FILE,
                    start,
                    f"duplicate offer_id {row.offer_id!r} in shop {row.shop!r} "
                    f"(first seen on line {seen[key]})",
                    row.offer_id,
                )
                continue
            seen[key] = start
            yield row


def _runaway_record(lines: _Lines, what: str) -> RowError:
    """Reject the first line of a record with an unclosed quote; the lines after it are read
    again as rows of their own (so that no row is swallowed without a word)."""
    first, text = lines.taken[0]
    lines.read_again_after_first()
    try:
        values = next(csv.reader([text]))
    except (csv.Error, StopIteration):
        values = []
    offer_id = values[0].strip()[: MAX_LENGTH["offer_id"]] if values else ""
    return RowError(
        OFFERS_FILE,
        first,
        f"unclosed quote: a quoted field opened on line {first} {what}; "
        f"this line is rejected and the lines after it are read as rows again",
        "" if has_surrogates(offer_id) else offer_id,
    )
