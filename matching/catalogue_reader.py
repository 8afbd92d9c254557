"""Reading ahead: offers.csv read, checked and cut into chunks in a process of its own.

Reading and checking a row (`catalogue.read_catalogue`) costs about as much CPU as writing it
to PostgreSQL, and the importer used to do both in turn. `read_chunks` runs the reader in a
separate process (Django-free, started from the same forkserver as the image workers) that
stays a chunk or two ahead (the one it sends through a pipe, the one it reads meanwhile), so
that reading chunk k+1 runs on the second core while chunk k is written. The rows, their line
numbers and the rejected rows (`RowError`) are the same as when reading in process: one reader
reads the whole file in order, so duplicates are still found across chunks. A file-level
problem (`CatalogueError`) raised by the reader is raised again in the importer; a reader that
dies without a word raises `ReaderDied`; a reader whose importer died ends.
"""

from __future__ import annotations

import contextlib
import pickle
from collections.abc import Iterable, Iterator
from multiprocessing import get_context
from pathlib import Path

from matching.catalogue import read_catalogue
from matching.catalogue_rows import CatalogueRow, RowError

POLL_SECONDS = 1.0  # how long the importer waits for a dead reader's exit code

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
    # A one-way pipe whose sending end only the reader holds: if the reader dies, even in the
    # middle of a message, the importer reads the end of the pipe instead of waiting forever;
    # if the importer dies, the reader's next send fails and it ends. The pipe's buffer and
    # the chunk being sent are the read-ahead.
    receiving, sending = context.Pipe(duplex=False)
    reader = context.Process(
        target=_read_into,
        args=(str(directory), size, max_images, sending),
        name="catalogue-reader",
        daemon=True,
    )
    reader.start()
    sending.close()
    try:
        while True:
            try:
                kind, payload = receiving.recv()
            except (EOFError, OSError):
                reader.join(timeout=POLL_SECONDS)
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
        receiving.close()
        if reader.is_alive():
            reader.terminate()
        reader.join(timeout=10)


def _read_into(directory: str, size: int, max_images: int, sending) -> None:
    """The reader process: every chunk, then ("done", None) or ("error", the exception). A
    send fails (BrokenPipeError) once the importer is gone, which ends this process."""
    try:
        for chunk in chunked(read_catalogue(Path(directory)), size, max_images):
            sending.send(("chunk", chunk))
    except (BrokenPipeError, ConnectionResetError):
        return
    except BaseException as exc:  # every other failure is reported to the importer
        try:
            pickle.dumps(exc)
        except Exception:
            exc = ReaderDied(f"the catalogue reader failed: {type(exc).__name__}: {exc}")
        with contextlib.suppress(OSError):
            sending.send(("error", exc))
        return
    with contextlib.suppress(OSError):
        sending.send(("done", None))
