"""Import service: a catalogue folder into Shop / Offer / OfferImage rows and media files.

- Streams rows from `catalogue.read_catalogue`; images are checked (decodable, not a
  decompression bomb), copied into media storage and preprocessed (cropped to the paper's
  aspect ratio and resized to 254x367) one at a time, a few rows in parallel threads.
- Image files are content-addressed by their sha256, so re-imports and identical images in
  several offers never duplicate files; re-importing updates offers by (shop, offer_id).
- A rejected row writes nothing: its images are checked before any database write, and each
  row is written inside its own savepoint. Valid rows are kept. Rows are committed in chunks.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from PIL import Image, ImageOps, UnidentifiedImageError

from matching.catalogue import CatalogueRow, RowError, content_hash, count_rows, read_catalogue
from matching.ml.features import normalise_text
from matching.ml.retrieval import brand_key
from matching.models import ImportBatch, Offer, OfferImage, Shop

PREPROCESSED_SIZE = (254, 367)  # (W, H), the paper's most common aspect ratio
MAX_IMAGE_BYTES = 50 * 1024 * 1024
MAX_IMAGE_PIXELS = 50_000_000
MAX_STORED_ERRORS = 10_000
CHUNK_ROWS = 256
IMAGE_THREADS = 4


@dataclass(frozen=True)
class StoredImage:
    source_path: str
    original: str  # storage name relative to MEDIA_ROOT
    preprocessed: str
    checksum: str
    width: int
    height: int


@dataclass
class PreparedRow:
    row: CatalogueRow
    images: list[StoredImage] = field(default_factory=list)


class _ImageRejected(Exception):
    pass


ProgressCallback = Callable[[int, int], None]


def import_catalogue(
    *,
    directory: Path | str,
    user: AbstractBaseUser | None = None,
    on_error: Callable[[RowError], None] | None = None,
    progress: ProgressCallback | None = None,
) -> ImportBatch:
    """Import a catalogue folder; returns the finished ImportBatch with counts and errors.

    Raises `catalogue.CatalogueError` for file-level problems (nothing is imported then; the
    batch is stored as failed with the reason).
    """
    directory = Path(directory)
    batch = ImportBatch.objects.create(
        source=str(directory.resolve()), created_by=user if user and user.pk else None
    )
    started = time.perf_counter()
    total = count_rows(directory) if (directory / "offers.csv").is_file() else 0
    shops: dict[str, Shop] = {}
    done = 0
    try:
        items = read_catalogue(directory)
        with ThreadPoolExecutor(max_workers=IMAGE_THREADS) as pool:
            for chunk in _chunks(items, CHUNK_ROWS):
                prepared = list(pool.map(_prepare, chunk))
                with transaction.atomic():
                    existing = _existing_offers(prepared, shops)
                    for item in prepared:
                        if isinstance(item, RowError):
                            _reject(batch, item, on_error)
                        else:
                            _write_row(
                                batch=batch,
                                prepared=item,
                                shops=shops,
                                existing=existing,
                                on_error=on_error,
                            )
                done += len(chunk)
                batch.n_rows = done
                if progress:
                    progress(done, max(total, done))
    except Exception as exc:
        batch.status = ImportBatch.Status.FAILED
        batch.errors = [*batch.errors, {"file": "offers.csv", "line": 0, "reason": str(exc)}]
        _finish(batch, started)
        raise
    batch.status = (
        ImportBatch.Status.DONE_WITH_ERRORS if batch.n_rejected else ImportBatch.Status.DONE
    )
    _finish(batch, started)
    return batch


def _finish(batch: ImportBatch, started: float) -> None:
    batch.seconds = time.perf_counter() - started
    batch.finished_at = timezone.now()
    batch.save()


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _reject(batch: ImportBatch, error: RowError, on_error: Callable | None) -> None:
    batch.n_rejected += 1
    if len(batch.errors) < MAX_STORED_ERRORS:
        batch.errors.append(error.as_dict())
    if on_error:
        on_error(error)


def _prepare(item: CatalogueRow | RowError) -> PreparedRow | RowError:
    """Check and store one row's images (runs in a worker thread; no database access)."""
    if isinstance(item, RowError):
        return item
    try:
        images = [
            _store_image(name, path)
            for name, path in zip(item.images, item.image_paths, strict=True)
        ]
    except _ImageRejected as exc:
        return RowError("offers.csv", item.line, str(exc), item.offer_id)
    return PreparedRow(row=item, images=images)


def _store_image(name: str, path: Path) -> StoredImage:
    size = path.stat().st_size
    if size > MAX_IMAGE_BYTES:
        raise _ImageRejected(f"image file {name!r} is too large ({size} bytes)")
    if size == 0:
        raise _ImageRejected(f"image file {name!r} is empty")
    data = path.read_bytes()
    checksum = hashlib.sha256(data).hexdigest()
    media = Path(settings.MEDIA_ROOT)
    suffix = (
        path.suffix.lower()
        if path.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"}
        else ".img"
    )
    original = f"offers/original/{checksum[:2]}/{checksum}{suffix}"
    preprocessed = f"offers/254x367/{checksum[:2]}/{checksum}.jpg"
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise _ImageRejected(f"image file {name!r} is too large ({width}x{height} pixels)")
            if not (media / preprocessed).is_file():
                image.load()
                small = ImageOps.fit(
                    ImageOps.exif_transpose(image).convert("RGB"),
                    PREPROCESSED_SIZE,
                    method=Image.Resampling.BICUBIC,
                )
                _write_atomic(media / preprocessed, _jpeg_bytes(small))
            else:
                image.verify()
    except _ImageRejected:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
    ) as exc:
        raise _ImageRejected(f"image file {name!r} is corrupt or not an image ({exc})") from None
    if not (media / original).is_file():
        _write_atomic(media / original, data)
    return StoredImage(name, original, preprocessed, checksum, width, height)


def _jpeg_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _write_atomic(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{time.monotonic_ns()}.tmp")
    temporary.write_bytes(data)
    temporary.replace(target)


def _existing_offers(
    prepared: list[PreparedRow | RowError], shops: dict[str, Shop]
) -> dict[tuple[str, str], Offer]:
    """The chunk's offers that are already stored, with their images, in one query per shop."""
    keys: dict[str, list[str]] = {}
    for item in prepared:
        if isinstance(item, PreparedRow):
            keys.setdefault(item.row.shop, []).append(item.row.offer_id)
    found: dict[tuple[str, str], Offer] = {}
    for shop_name, offer_ids in keys.items():
        shop = shops.get(shop_name) or Shop.objects.filter(name=shop_name).first()
        if shop is None:
            continue
        shops[shop_name] = shop
        offers = Offer.objects.filter(shop=shop, offer_id__in=offer_ids).prefetch_related("images")
        found.update({(shop_name, offer.offer_id): offer for offer in offers})
    return found


def _write_row(
    *,
    batch: ImportBatch,
    prepared: PreparedRow,
    shops: dict[str, Shop],
    existing: dict[tuple[str, str], Offer],
    on_error: Callable | None,
) -> None:
    row = prepared.row
    try:
        with transaction.atomic():
            shop = shops.get(row.shop)
            if shop is None:
                shop, _ = Shop.objects.get_or_create(name=row.shop)
                shops[row.shop] = shop
            text = normalise_text(row.brand, row.title)
            fields = {
                "brand": row.brand,
                "brand_normalised": brand_key(row.brand),
                "title": row.title,
                "text_normalised": text,
                "price": row.price,
                "currency": row.currency,
                "sizes": row.sizes,
                "category": row.category,
                "created_at": row.created_at,
                "product_id": row.product_id,
                "content_hash": content_hash(
                    text=text,
                    price=row.price,
                    sizes=row.sizes,
                    checksums=[image.checksum for image in prepared.images],
                ),
            }
            offer = existing.get((row.shop, row.offer_id))
            new = offer is None
            if new:
                offer = Offer.objects.create(
                    shop=shop, offer_id=row.offer_id, import_batch=batch, **fields
                )
                batch.n_imported += 1
            elif _changed(offer, fields, prepared.images):
                for name, value in fields.items():
                    setattr(offer, name, value)
                offer.import_batch = batch
                offer.save()
                batch.n_updated += 1
            else:
                batch.n_unchanged += 1
                return
            _write_images(offer, prepared.images, new=new)
            batch.n_images += len(prepared.images)
    except Exception as exc:  # a database refusal rolls back this row only
        _reject(
            batch, RowError("offers.csv", row.line, f"not stored: {exc}", row.offer_id), on_error
        )


def _changed(offer: Offer, fields: dict, images: list[StoredImage]) -> bool:
    if offer.content_hash != fields["content_hash"]:
        return True
    current = {name: getattr(offer, name) for name in fields}
    if current != fields:
        return True
    stored = [
        (image.checksum, image.source_path)
        for image in sorted(offer.images.all(), key=lambda image: image.position)
    ]
    return stored != [(image.checksum, image.source_path) for image in images]


def _write_images(offer: Offer, images: list[StoredImage], *, new: bool) -> None:
    existing = {} if new else {image.position: image for image in offer.images.all()}
    for position, stored in enumerate(images):
        values = {
            "source_path": stored.source_path,
            "original": stored.original,
            "preprocessed": stored.preprocessed,
            "checksum": stored.checksum,
            "width": stored.width,
            "height": stored.height,
        }
        current = existing.pop(position, None)
        if current is None:
            OfferImage.objects.create(offer=offer, position=position, **values)
        else:
            for name, value in values.items():
                setattr(current, name, value)
            current.save()
    if existing:  # the offer has fewer images than before; files are shared, rows go
        OfferImage.objects.filter(pk__in=[image.pk for image in existing.values()]).delete()
