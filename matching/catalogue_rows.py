"""The row rules of the catalogue format (see README, "Catalogue format").

The columns of offers.csv, the limits on their values and the checks of one row's fields:
`check_row` turns the values of one record into a checked `CatalogueRow` or raises
`RowRejected` with the reason; `RowError` is the per-line rejection the reader yields.
Images are only located here (path safety, existence); decoding them is the import
service's job.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

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
MAX_PRICE = Decimal("10000000000")  # 1e10 in any currency is not a fashion item
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE_RE = re.compile("[\udc80-\udcff]")
_DRIVE_RE = re.compile(r"^[A-Za-z]:")
_BAD_CHAR_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\udc80-\udcff]")


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
    # resolved, inside the folder; plain strings: cheaper to make and to pass between processes
    image_paths: list[str] = field(default_factory=list)


class RowRejected(Exception):
    """One row breaks a rule; the message is the reason shown to the user."""


def has_surrogates(text: str) -> bool:
    return _SURROGATE_RE.search(text) is not None


def check_row(
    values: list[str],
    header: list[str],
    positions: dict[str, int],
    line: int,
    root: Path,
    *,
    folders: dict[str, str] | None = None,
) -> CatalogueRow:
    if len(values) != len(header):
        raise RowRejected(f"row has {len(values)} fields, the header has {len(header)}")
    raw = {name: values[index] for name, index in positions.items()}
    # One scan of the whole row; the field by field checks run only for a suspicious row.
    if _BAD_CHAR_RE.search("".join(values)) or any(
        len(value) > MAX_LENGTH[name] for name, value in raw.items()
    ):
        for name, value in raw.items():
            if has_surrogates(value):
                raise RowRejected(f"{name}: bytes that are not valid UTF-8")
            if len(value) > MAX_LENGTH[name]:
                raise RowRejected(
                    f"{name}: too long ({len(value)} characters, at most {MAX_LENGTH[name]})"
                )
            if _CONTROL_RE.search(value):
                raise RowRejected(f"{name}: contains control characters")
    clean = dict.fromkeys(COLUMNS, "")
    clean.update((name, value.strip()) for name, value in raw.items())
    get = clean.__getitem__

    offer_id, shop, title = get("offer_id"), get("shop"), get("title")
    if not offer_id:
        raise RowRejected("offer_id is empty")
    if not shop:
        raise RowRejected("shop is empty")
    if not title:
        raise RowRejected("title is empty")
    currency = get("currency").upper()
    if currency and not _CURRENCY_RE.match(currency):
        raise RowRejected(f"currency {currency!r} is not a 3-letter ISO code")
    sizes = [size.strip() for size in get("sizes").split(LIST_SEPARATOR) if size.strip()]
    if len(sizes) > MAX_SIZES:
        raise RowRejected(f"sizes: {len(sizes)} labels, at most {MAX_SIZES}")
    long_sizes = [size for size in sizes if len(size) > MAX_SIZE_LABEL]
    if long_sizes:
        raise RowRejected(f"sizes: label longer than {MAX_SIZE_LABEL} characters")
    images = [image.strip() for image in get("images").split(LIST_SEPARATOR) if image.strip()]
    if len(images) > MAX_IMAGES:
        raise RowRejected(f"images: {len(images)} files, at most {MAX_IMAGES}")
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
        image_paths=[_resolve_image(root, image, folders) for image in images],
    )


def _parse_price(text: str) -> Decimal | None:
    if not text:
        return None
    try:
        price = Decimal(text)
    except InvalidOperation:
        raise RowRejected(f"price {text!r} is not a number (use a dot: 39.95)") from None
    if not price.is_finite():
        raise RowRejected(f"price {text!r} is not a finite number")
    if price < 0:
        raise RowRejected(f"price {text!r} is negative")
    if price >= MAX_PRICE:
        raise RowRejected(f"price {text!r} is absurdly large")
    return price.quantize(Decimal("0.01"))


def _parse_date(text: str) -> date | None:
    if not text:
        return None
    if not _DATE_RE.match(text):
        raise RowRejected(f"created_at {text!r} is not a date in YYYY-MM-DD form")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise RowRejected(f"created_at {text!r} is not a real date") from None


def _resolve_image(root: Path, name: str, folders: dict[str, str] | None = None) -> str:
    """The image's real path inside `root` (resolved, without symlinks), checked with stat.

    `folders` caches the real path of each folder named (one per reader): then only the file
    itself is looked at (lstat; a symlink is resolved in full), not every folder above it."""
    if os.path.isabs(name) or name.startswith(("/", "\\")) or _DRIVE_RE.match(name):
        raise RowRejected(f"image path {name!r} is absolute; paths must be relative to the folder")
    top = str(root)
    joined = os.path.join(top, name)
    folder, base = os.path.split(joined)
    info = None
    if folders is None or base in ("", ".", ".."):
        resolved = os.path.realpath(joined)
    else:
        real = folders.get(folder)
        if real is None:
            real = folders[folder] = os.path.realpath(folder)
        resolved = os.path.join(real, base)
        try:
            info = os.lstat(resolved)
        except OSError:
            info = None  # missing or unreadable: said below, after the folder check
        if info is not None and stat.S_ISLNK(info.st_mode):
            resolved, info = os.path.realpath(resolved), None
    if resolved != top and not resolved.startswith(top.rstrip(os.sep) + os.sep):
        raise RowRejected(f"image path {name!r} leaves the catalogue folder")
    try:
        # stat, never open: a FIFO must not block the import (lstat of a non-link is the same)
        mode = (info or os.stat(resolved)).st_mode
    except FileNotFoundError:
        raise RowRejected(f"image file {name!r} is missing") from None
    except OSError as exc:
        raise RowRejected(f"image file {name!r} cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(mode):
        raise RowRejected(f"image file {name!r} is not a regular file")
    return resolved


def content_hash(*, text: str, price: object, sizes: list[str], checksums: list[str]) -> str:
    """What the encoders read, hashed: embeddings are recomputed only when this changes."""
    payload = "\x1f".join([text, str(price or ""), "|".join(sizes), "|".join(checksums)])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
