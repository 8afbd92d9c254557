"""Import service: a catalogue folder into Shop / Offer / OfferImage rows and media files.

- Streams rows from `catalogue.read_catalogue` in chunks of `CHUNK_ROWS` (or `CHUNK_IMAGES`
  images, whichever comes first), read ahead by a reader process for a large file
  (`catalogue_reader`: reading chunk k+1 overlaps writing chunk k). A chunk's images are
  checked, stored under their sha256 and preprocessed (cropped to the paper's aspect ratio,
  resized to 254x367) by a pool of worker processes (`catalogue_images`); all images of a row
  are checked before any file is written.
- A chunk is written in bulk (one query for the stored offers, bulk_create / bulk_update) in a
  savepoint; only a chunk whose bulk write fails is written again row by row, each row in its
  own savepoint, so that the row the database refuses is named and the rest are kept.
- Idempotent by (shop, offer_id): unchanged rows are counted and left alone.
- The batch's counts are committed with each chunk, with a heartbeat; a batch whose process
  died is marked interrupted by the next import (and by the admin), and temporary files of
  dead imports are removed. Files written for a row the database refused are deleted again
  unless another offer uses them.
"""

from __future__ import annotations

import gc
import os
import socket
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from multiprocessing import get_context
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from matching.catalogue import check_catalogue, count_rows
from matching.catalogue_bulk import COUNTS, PreparedRow, write_rows
from matching.catalogue_images import (
    ImageResult,
    ImageTask,
    prepare_row_images,
    temporary_files,
)
from matching.catalogue_reader import read_chunks
from matching.catalogue_rows import CatalogueRow, RowError
from matching.models import ImportBatch, Offer, OfferImage, Shop

MAX_STORED_ERRORS = 10_000
CHUNK_ROWS = 5000  # fewer round trips and commits per row than 1000 (~20 % less CPU per row)
CHUNK_IMAGES = 1000  # a chunk ends earlier at this many images (progress is committed per chunk)
IMAGE_WORKERS = max(1, min(os.cpu_count() or 1, 8))
POOL_MIN_IMAGES = 16  # fewer images in a chunk are prepared in this process
READ_AHEAD_MIN_ROWS = 2 * CHUNK_ROWS  # from this many rows on, a reader process reads ahead
STALE_AFTER = timedelta(minutes=30)  # a running batch without a heartbeat this long is dead
_COUNTS = ("n_rows", "n_imported", "n_updated", "n_unchanged", "n_rejected", "n_images")


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
    mark_interrupted_batches()
    batch = ImportBatch.objects.create(
        source=str(directory.resolve()),
        created_by=user if user and user.pk else None,
        host=socket.gethostname(),
        pid=os.getpid(),
        heartbeat_at=timezone.now(),
    )
    clean_temporary_files()
    # The objects that exist now (Django, the ML libraries: millions) are left out of the
    # cyclic garbage collector's full passes, which otherwise rescan them every few chunks.
    gc.freeze()
    started = time.perf_counter()
    shops: dict[str, Shop] = {}
    empty_shops: set[int] = set()  # shops without offers before this batch: nothing to look up
    pool = _ImagePool(batch_id=batch.pk)
    chunks = None
    try:
        check_catalogue(directory)
        total = count_rows(directory)
        refused: list[PreparedRow] = []
        pending = None  # the images of chunk k+1 are prepared while chunk k is written
        chunks = read_chunks(
            directory,
            size=CHUNK_ROWS,
            max_images=CHUNK_IMAGES,
            separate_process=total >= READ_AHEAD_MIN_ROWS,
        )
        while True:
            chunk = next(chunks, None)
            submitted = pool.submit(chunk) if chunk else None
            if pending is not None:
                errors = _write_chunk(
                    batch=batch,
                    prepared=pending(),
                    shops=shops,
                    empty_shops=empty_shops,
                    started=started,
                    refused=refused,
                )
                for error in errors:
                    if on_error:
                        on_error(error)
                if progress:
                    progress(batch.n_rows, max(total, batch.n_rows))
            if submitted is None:
                break
            pending = submitted
        _delete_unused_files(refused)  # after the last chunk: no later row can still need them
    except BaseException as exc:
        interrupted = not isinstance(exc, Exception)  # KeyboardInterrupt, SystemExit
        batch.status = ImportBatch.Status.INTERRUPTED if interrupted else ImportBatch.Status.FAILED
        batch.errors = [*batch.errors, {"file": "offers.csv", "line": 0, "reason": str(exc)}]
        _finish(batch, started)
        raise
    finally:
        if chunks is not None:
            chunks.close()  # stops the reader process
        pool.close()
        gc.unfreeze()
    batch.status = (
        ImportBatch.Status.DONE_WITH_ERRORS if batch.n_rejected else ImportBatch.Status.DONE
    )
    _finish(batch, started)
    return batch


def mark_interrupted_batches() -> int:
    """Mark "running" batches whose import process is gone as interrupted (keeping the counts
    they reached): the process was on this host and its pid is dead, or no chunk was committed
    for `STALE_AFTER`. Returns how many were marked."""
    host = socket.gethostname()
    now = timezone.now()
    dead = []
    for batch in ImportBatch.objects.filter(status=ImportBatch.Status.RUNNING):
        last = batch.heartbeat_at or batch.started_at
        if (batch.host == host and batch.pid and not _alive(batch.pid)) or (
            last < now - STALE_AFTER
        ):
            dead.append(batch.pk)
    if not dead:
        return 0
    return ImportBatch.objects.filter(pk__in=dead, status=ImportBatch.Status.RUNNING).update(
        status=ImportBatch.Status.INTERRUPTED, finished_at=now
    )


def clean_temporary_files() -> int:
    """Delete temporary image files of imports that are no longer running."""
    media = Path(settings.MEDIA_ROOT)
    found = temporary_files(media)
    running = set(
        ImportBatch.objects.filter(status=ImportBatch.Status.RUNNING).values_list("pk", flat=True)
    )
    removed = 0
    for path, batch_id in found:
        if batch_id not in running:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _finish(batch: ImportBatch, started: float) -> None:
    batch.seconds = time.perf_counter() - started
    batch.finished_at = timezone.now()
    batch.save()


class _ImagePool:
    """Prepares a chunk's images: in this process for a few, else in worker processes."""

    def __init__(self, *, batch_id: int) -> None:
        self._batch_id = batch_id
        self._executor: ProcessPoolExecutor | None = None

    def submit(
        self, chunk: list[CatalogueRow | RowError]
    ) -> Callable[[], list[PreparedRow | RowError]]:
        """Start preparing a chunk's images; returns a function that waits for the result."""
        media = str(settings.MEDIA_ROOT)
        link = settings.FASHIONID_IMPORT_LINK_ORIGINALS
        tasks = [
            ImageTask(
                item.line,
                tuple(item.images),
                tuple(item.image_paths),
                media,
                self._batch_id,
                link_originals=link,
            )
            for item in chunk
            if isinstance(item, CatalogueRow) and item.images
        ]
        if sum(len(task.names) for task in tasks) >= POOL_MIN_IMAGES:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    max_workers=IMAGE_WORKERS, mp_context=get_context("forkserver")
                )
            # ~8 pieces per worker and chunk (was 4 rows a piece): one message each way per
            # piece, handled by the executor's threads here and by the worker
            size = max(4, -(-len(tasks) // (8 * IMAGE_WORKERS)))
            futures = self._executor.map(prepare_row_images, tasks, chunksize=size)
            return lambda: self._combine(chunk, list(futures))
        results = [prepare_row_images(task) for task in tasks]
        return lambda: self._combine(chunk, results)

    @staticmethod
    def _combine(
        chunk: list[CatalogueRow | RowError], results: list[ImageResult]
    ) -> list[PreparedRow | RowError]:
        by_line: dict[int, ImageResult] = {result.line: result for result in results}
        prepared: list[PreparedRow | RowError] = []
        for item in chunk:
            if isinstance(item, RowError):
                prepared.append(item)
                continue
            result = by_line.get(item.line)
            if result is None:
                prepared.append(PreparedRow(row=item))
            elif result.error:
                prepared.append(RowError("offers.csv", item.line, result.error, item.offer_id))
            else:
                prepared.append(PreparedRow(item, list(result.images), list(result.created)))
        return prepared

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(cancel_futures=True)


def _write_chunk(
    *,
    batch: ImportBatch,
    prepared: list[PreparedRow | RowError],
    shops: dict[str, Shop],
    empty_shops: set[int],
    started: float,
    refused: list[PreparedRow],
) -> list[RowError]:
    """Write one chunk and the batch's counts in one transaction; returns its rejected rows in
    line order."""
    rows = [item for item in prepared if isinstance(item, PreparedRow)]
    errors = [item for item in prepared if isinstance(item, RowError)]
    with transaction.atomic():
        _ensure_shops(rows, shops, empty_shops)
        try:
            with transaction.atomic():
                counts = write_rows(batch=batch, rows=rows, shops=shops, empty_shops=empty_shops)
        except Exception:  # the database refused something: find which row, keep the others
            counts = dict.fromkeys(COUNTS, 0)
            for item in rows:
                try:
                    with transaction.atomic():
                        one = write_rows(
                            batch=batch, rows=[item], shops=shops, empty_shops=empty_shops
                        )
                except Exception as exc:
                    refused.append(item)
                    errors.append(
                        RowError(
                            "offers.csv", item.row.line, f"not stored: {exc}", item.row.offer_id
                        )
                    )
                    continue
                for name, value in one.items():
                    counts[name] += value
        errors.sort(key=lambda error: error.line)
        for name, value in counts.items():
            setattr(batch, name, getattr(batch, name) + value)
        batch.n_rows += len(prepared)
        batch.n_rejected += len(errors)
        room = MAX_STORED_ERRORS - len(batch.errors)
        if errors and room > 0:
            batch.errors = [*batch.errors, *(error.as_dict() for error in errors[:room])]
        batch.heartbeat_at = timezone.now()
        batch.seconds = time.perf_counter() - started
        saved = [*_COUNTS, "heartbeat_at", "seconds"]
        batch.save(update_fields=[*saved, "errors"] if errors and room > 0 else saved)
    return errors


def _ensure_shops(rows: list[PreparedRow], shops: dict[str, Shop], empty_shops: set[int]) -> None:
    """Create the chunk's new shops; a shop seen for the first time in this batch that has no
    offers yet goes into `empty_shops`: its rows cannot be stored already (offers.csv has no
    duplicate (shop, offer_id), the reader refuses them), so no chunk looks them up."""
    missing = {item.row.shop for item in rows} - shops.keys()
    if not missing:
        return
    Shop.objects.bulk_create([Shop(name=name) for name in sorted(missing)], ignore_conflicts=True)
    found = {shop.name: shop for shop in Shop.objects.filter(name__in=missing)}
    shops.update(found)
    ids = {shop.pk for shop in found.values()}
    with_offers = set(
        Offer.objects.filter(shop_id__in=ids)
        .order_by()
        .values_list("shop_id", flat=True)
        .distinct()
    )
    empty_shops.update(ids - with_offers)


def _delete_unused_files(refused: list[PreparedRow]) -> None:
    """Delete media files written for rows the database refused, unless an offer uses them."""
    media = Path(settings.MEDIA_ROOT)
    for item in refused:
        for name in item.created:
            if not OfferImage.objects.filter(Q(original=name) | Q(preprocessed=name)).exists():
                (media / name).unlink(missing_ok=True)
