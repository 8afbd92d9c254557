"""Reading ahead: offers.csv read, checked and cut into chunks in a process of its own.

Reading and checking a row (`catalogue.read_catalogue`) costs about as much CPU as writing it
to PostgreSQL, and the importer used to do both in turn. `read_chunks` runs the reader in a
separate process (Django-free, started from the same forkserver as the image workers) that
stays up to `READ_AHEAD` chunks ahead, so that reading chunk k+1 runs on the second core while
chunk k is written. The rows, their line numbers and the rejected rows (`RowError`) are the
same as when reading in process: one reader reads the whole file in order, so duplicates are
still found across chunks. A file-level problem (`CatalogueError`) raised by the reader is
raised again in the importer; a reader that dies without a word raises `ReaderDied`.
"""

from __future__ import annotations

import pickle
import queue as queue_module
from collections.abc import Iterable, Iterator
from multiprocessing import get_context, parent_process
from pathlib import Path

from matching.catalogue import read_catalogue
from matching.catalogue_rows import CatalogueRow, RowError

READ_AHEAD = 2  # chunks the reader may be ahead of the importer (memory: 2 x ~5 MB for 5k rows)
POLL_SECONDS = 1.0  # how often the importer checks that a silent reader is still alive

Chunk = list[CatalogueRow | RowError]


class ReaderDied(RuntimeError):
    """The reader process ended without finishing the file or reporting an error."""


def chunked(items: Iterable, size: int, max_images: int) -> Iterator[list]:
    """Lists of up to ``size`` items, each ending as soon as it names ``max_images`` images."""
    chunk: list = []
    images = 0
    for item in items:
        chunk.append(item)
        images += len(getattr(item, "images", ()))
        if len(chunk) >= size or images >= max_images:
            yield chunk
            chunk, images = [], 0
    if chunk:
        yield chunk


def read_chunks(
    directory: Path, *, size: int, max_images: int, separate_process: bool
) -> Iterator[Chunk]:
    """The catalogue's rows in chunks, read in this process or in a reader process.

    Close the generator (or exhaust it) to stop the reader process."""
    if not separate_process:
        yield from chunked(read_catalogue(directory), size, max_images)
        return
    context = get_context("forkserver")
    channel = context.Queue(maxsize=READ_AHEAD)
    reader = context.Process(
        target=_read_into,
        args=(str(directory), size, max_images, channel),
        name="catalogue-reader",
        daemon=True,
    )
    reader.start()
    try:
        while True:
            try:
                kind, payload = channel.get(timeout=POLL_SECONDS)
            except queue_module.Empty:
                if reader.is_alive():
                    continue
                try:  # what it sent just before it ended
                    kind, payload = channel.get(timeout=POLL_SECONDS)
                except queue_module.Empty:
                    raise ReaderDied(
                        f"the catalogue reader process ended (exit code {reader.exitcode}) "
                        "before the end of offers.csv"
                    ) from None
            if kind == "chunk":
                yield payload
            elif kind == "error":
                raise payload
            else:
                return
    finally:
        if reader.is_alive():
            reader.terminate()
        reader.join(timeout=10)
        channel.close()
        channel.cancel_join_thread()


def _read_into(directory: str, size: int, max_images: int, channel) -> None:
    """The reader process: every chunk, then ("done", None) or ("error", the exception). It
    ends without a word when the importer is gone (nobody would ever take its chunks)."""
    importer = parent_process()

    def send(item) -> None:
        while True:
            try:
                channel.put(item, timeout=POLL_SECONDS)
                return
            except queue_module.Full:
                if importer is not None and not importer.is_alive():
                    raise SystemExit(1) from None

    try:
        for chunk in chunked(read_catalogue(Path(directory)), size, max_images):
            send(("chunk", chunk))
    except SystemExit:
        raise
    except BaseException as exc:  # every other failure is reported to the importer
        try:
            pickle.dumps(exc)
        except Exception:
            exc = ReaderDied(f"the catalogue reader failed: {type(exc).__name__}: {exc}")
        send(("error", exc))
        return
    send(("done", None))
