"""Reading and checking the catalogue format (see README, "Catalogue format").

A catalogue is a folder with `offers.csv` and the image files it names. `read_catalogue`
streams the rows one at a time and yields either a checked `CatalogueRow` or a `RowError`
naming the file, line and reason. Problems with the file as a whole (no offers.csv, missing
required columns, an unreadable header) raise `CatalogueError`. Images are only located here
(path safety, existence); decoding them is the import service's job.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import stat
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

OFFERS_FILE = "offers.csv"
COLUMNS = (
    "offer_id",
    "shop",
    "brand",
    "title",
    "price",
    "currency",
    "sizes",
    "category",
    "created_at",
    "product_id",
    "images",
)
REQUIRED_COLUMNS = ("offer_id", "shop", "title")
LIST_SEPARATOR = "|"

# Longest accepted value per field (characters); longer is "absurdly long" and rejected.
MAX_LENGTH = {
    "offer_id": 200,
    "shop": 100,
    "brand": 200,
    "title": 1000,
    "price": 32,
    "currency": 16,
    "sizes": 2000,
    "category": 200,
    "created_at": 10,
    "product_id": 200,
    "images": 20000,
}
MAX_SIZES = 100
MAX_SIZE_LABEL = 50
MAX_IMAGES = 50
# A quoted field may span lines, but one record may span at most this many physical lines;
# a quote still open after them (or at the end of the file) is an unclosed quote.
MAX_RECORD_LINES = 20
MAX_PRICE = Decimal("10000000000")  # 1e10 in any currency is not a fashion item
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE_RE = re.compile("[\udc80-\udcff]")
_BAD_CHAR_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\udc80-\udcff]")
# csv refuses fields over its limit by raising for the whole file; raise the limit well above
# MAX_LENGTH so that long fields are read and rejected row by row with a clear reason.
csv.field_size_limit(16 * 1024 * 1024)


class CatalogueError(Exception):
    """The catalogue as a whole cannot be read (no rows are imported)."""


@dataclass(frozen=True)
class RowError:
    file: str
    line: int
    reason: str
    offer_id: str = ""

    def __str__(self) -> str:
        who = f" (offer_id={self.offer_id})" if self.offer_id else ""
        return f"{self.file}:{self.line}: rejected{who}: {self.reason}"

    def as_dict(self) -> dict:
        return {
            "file": self.file,
            "line": self.line,
            "offer_id": self.offer_id,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class CatalogueRow:
    line: int
    shop: str
    offer_id: str
    brand: str
    title: str
    price: Decimal | None
    currency: str
    sizes: list[str]
    category: str
    created_at: date | None
    product_id: str | None
    images: list[str] = field(default_factory=list)  # as written in the file
    image_paths: list[Path] = field(default_factory=list)  # resolved, inside the folder


class _RowRejected(Exception):
    pass


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
        if any(_has_surrogates(name) for name in header):
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
            offer_id = "" if _has_surrogates(offer_id) else offer_id[: MAX_LENGTH["offer_id"]]
            try:
                row = _check_row(values, header, positions, start, resolved_root)
            except _RowRejected as exc:
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
        "" if _has_surrogates(offer_id) else offer_id,
    )


def _has_surrogates(text: str) -> bool:
    return _SURROGATE_RE.search(text) is not None


def _check_row(
    values: list[str],
    header: list[str],
    positions: dict[str, int],
    line: int,
    root: Path,
) -> CatalogueRow:
    if len(values) != len(header):
        raise _RowRejected(f"row has {len(values)} fields, the header has {len(header)}")
    raw = {name: values[index] for name, index in positions.items()}
    # One scan of the whole row; the field by field checks run only for a suspicious row.
    if _BAD_CHAR_RE.search("".join(values)) or any(
        len(value) > MAX_LENGTH[name] for name, value in raw.items()
    ):
        for name, value in raw.items():
            if _has_surrogates(value):
                raise _RowRejected(f"{name}: bytes that are not valid UTF-8")
            if len(value) > MAX_LENGTH[name]:
                raise _RowRejected(
                    f"{name}: too long ({len(value)} characters, at most {MAX_LENGTH[name]})"
                )
            if _CONTROL_RE.search(value):
                raise _RowRejected(f"{name}: contains control characters")
    clean = dict.fromkeys(COLUMNS, "")
    clean.update((name, value.strip()) for name, value in raw.items())
    get = clean.__getitem__

    offer_id, shop, title = get("offer_id"), get("shop"), get("title")
    if not offer_id:
        raise _RowRejected("offer_id is empty")
    if not shop:
        raise _RowRejected("shop is empty")
    if not title:
        raise _RowRejected("title is empty")
    currency = get("currency").upper()
    if currency and not _CURRENCY_RE.match(currency):
        raise _RowRejected(f"currency {currency!r} is not a 3-letter ISO code")
    sizes = [size.strip() for size in get("sizes").split(LIST_SEPARATOR) if size.strip()]
    if len(sizes) > MAX_SIZES:
        raise _RowRejected(f"sizes: {len(sizes)} labels, at most {MAX_SIZES}")
    long_sizes = [size for size in sizes if len(size) > MAX_SIZE_LABEL]
    if long_sizes:
        raise _RowRejected(f"sizes: label longer than {MAX_SIZE_LABEL} characters")
    images = [image.strip() for image in get("images").split(LIST_SEPARATOR) if image.strip()]
    if len(images) > MAX_IMAGES:
        raise _RowRejected(f"images: {len(images)} files, at most {MAX_IMAGES}")
    return CatalogueRow(
        line=line,
        shop=shop,
        offer_id=offer_id,
        brand=get("brand"),
        title=title,
        price=_parse_price(get("price")),
        currency=currency,
        sizes=sizes,
        category=get("category"),
        created_at=_parse_date(get("created_at")),
        product_id=get("product_id") or None,
        images=images,
        image_paths=[_resolve_image(root, image) for image in images],
    )


def _parse_price(text: str) -> Decimal | None:
    if not text:
        return None
    try:
        price = Decimal(text)
    except InvalidOperation:
        raise _RowRejected(f"price {text!r} is not a number (use a dot: 39.95)") from None
    if not price.is_finite():
        raise _RowRejected(f"price {text!r} is not a finite number")
    if price < 0:
        raise _RowRejected(f"price {text!r} is negative")
    if price >= MAX_PRICE:
        raise _RowRejected(f"price {text!r} is absurdly large")
    return price.quantize(Decimal("0.01"))


def _parse_date(text: str) -> date | None:
    if not text:
        return None
    if not _DATE_RE.match(text):
        raise _RowRejected(f"created_at {text!r} is not a date in YYYY-MM-DD form")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _RowRejected(f"created_at {text!r} is not a real date") from None


def _resolve_image(root: Path, name: str) -> Path:
    candidate = Path(name)
    if candidate.is_absolute() or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise _RowRejected(f"image path {name!r} is absolute; paths must be relative to the folder")
    resolved = (root / candidate).resolve()
    if not resolved.is_relative_to(root):
        raise _RowRejected(f"image path {name!r} leaves the catalogue folder")
    try:
        mode = os.stat(resolved).st_mode  # stat, never open: a FIFO must not block the import
    except FileNotFoundError:
        raise _RowRejected(f"image file {name!r} is missing") from None
    except OSError as exc:
        raise _RowRejected(f"image file {name!r} cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(mode):
        raise _RowRejected(f"image file {name!r} is not a regular file")
    return resolved


def content_hash(*, text: str, price: object, sizes: list[str], checksums: list[str]) -> str:
    """What the encoders read, hashed: embeddings are recomputed only when this changes."""
    payload = "\x1f".join([text, str(price or ""), "|".join(sizes), "|".join(checksums)])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
