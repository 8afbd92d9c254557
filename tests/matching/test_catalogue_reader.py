"""Reading ahead in a reader process: the same chunks, rows and errors as reading in process."""

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from matching.catalogue import CatalogueError
from matching.catalogue_reader import ReaderDied, read_chunks
from matching.catalogue_rows import CatalogueRow, RowError

pytestmark = pytest.mark.sqlite


def offer(offer_id, **extra):
    return {"offer_id": offer_id, "shop": "alpha", "title": f"Shirt {offer_id}", **extra}


def bulky(count):
    """Rows far more than the pipe's buffer (64 KiB) holds, so that the reader is still
    running, blocked on a send, when the test looks for it."""
    return [offer(f"o{i}", title=f"Shirt {i} " + "x" * 990) for i in range(count)]


def described(chunks):
    return [
        [
            ("row", item.line, item.offer_id, str(item.price), item.images)
            if isinstance(item, CatalogueRow)
            else ("error", item.line, item.offer_id, item.reason)
            for item in chunk
        ]
        for chunk in chunks
    ]


def test_reader_process_gives_the_same_chunks_rows_and_errors(write_catalogue):
    rows = [offer(f"o{i}", price=f"{i}.5") for i in range(11)]
    rows[4] = offer("o4", price="-1")  # a bad row in the middle of the first chunk
    rows[8] = offer("o1")  # a duplicate of a row of an earlier chunk
    rows[9] = offer("o9", images=[("i/9.png", (9, 9, 9))])
    folder = write_catalogue(rows)
    here = list(read_chunks(folder, size=3, max_images=10, separate_process=False))
    there = list(read_chunks(folder, size=3, max_images=10, separate_process=True))
    assert described(there) == described(here)
    assert [len(chunk) for chunk in there] == [3, 3, 3, 2]
    errors = [item for chunk in there for item in chunk if isinstance(item, RowError)]
    assert [(e.line, e.offer_id) for e in errors] == [(6, "o4"), (10, "o1")]
    assert "negative" in errors[0].reason and "first seen on line 3" in errors[1].reason
    (image_row,) = [i for c in there for i in c if isinstance(i, CatalogueRow) and i.images]
    assert image_row.image_paths == [str((folder / "i/9.png").resolve())]


def test_file_level_error_of_the_reader_is_raised_in_the_importer(write_catalogue):
    folder = write_catalogue([offer("o1")], columns=["offer_id", "title"])
    with pytest.raises(CatalogueError, match="missing required column"):
        list(read_chunks(folder, size=3, max_images=10, separate_process=True))


def test_a_reader_that_dies_is_reported_not_taken_for_the_end_of_the_file(write_catalogue):
    folder = write_catalogue(bulky(300))
    chunks = read_chunks(folder, size=1, max_images=10, separate_process=True)
    first = next(chunks)
    assert first[0].offer_id == "o0"
    (reader,) = [p for p in multiprocessing.active_children() if p.name == "catalogue-reader"]
    os.kill(reader.pid, signal.SIGKILL)
    with pytest.raises(ReaderDied, match="before the end of offers.csv"):
        for _ in chunks:
            pass


def test_closing_the_chunks_stops_the_reader(write_catalogue):
    folder = write_catalogue(bulky(300))
    chunks = read_chunks(folder, size=1, max_images=10, separate_process=True)
    next(chunks)
    (reader,) = [p for p in multiprocessing.active_children() if p.name == "catalogue-reader"]
    chunks.close()
    assert not reader.is_alive()


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_the_reader_ends_when_the_importer_is_killed(write_catalogue):
    folder = write_catalogue(bulky(300))
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from multiprocessing import active_children\n"
        "from matching.catalogue_reader import read_chunks\n"
        "chunks = read_chunks(Path(sys.argv[1]), size=1, max_images=9, separate_process=True)\n"
        "next(chunks)\n"
        "print([p.pid for p in active_children() if p.name == 'catalogue-reader'][0], flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    reader = int(done.stdout.split()[0])
    deadline = time.monotonic() + 20
    while not _gone(reader) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _gone(reader)
