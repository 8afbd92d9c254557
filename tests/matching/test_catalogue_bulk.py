"""The bulk import: chunks, fallback row by row, interrupted batches, files of rejected rows."""

import hashlib
import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from matching import catalogue_import
from matching.catalogue_images import TMP_DIR
from matching.catalogue_import import import_catalogue, mark_interrupted_batches
from matching.models import ImportBatch, Offer, OfferImage

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]  # and PostgreSQL (COPY path)


def offer(offer_id, **extra):
    return {"offer_id": offer_id, "shop": "alpha", "title": f"Shirt {offer_id}", **extra}


def media_files() -> set[str]:
    root = Path(settings.MEDIA_ROOT)
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout)


@pytest.fixture
def refuse_offer_id():
    """A real database refusal of one offer_id (a trigger), after the Python checks passed."""
    if connection.vendor not in ("sqlite", "postgresql"):
        pytest.skip("trigger written for SQLite and PostgreSQL")

    def install(offer_id: str) -> None:
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute(
                    "CREATE TRIGGER refuse_offer BEFORE INSERT ON matching_offer "
                    f"WHEN NEW.offer_id = '{offer_id}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            else:
                cursor.execute(
                    "CREATE FUNCTION refuse_offer() RETURNS trigger AS $$ BEGIN "
                    f"IF NEW.offer_id = '{offer_id}' THEN RAISE EXCEPTION 'refused'; END IF; "
                    "RETURN NEW; END $$ LANGUAGE plpgsql"
                )
                cursor.execute(
                    "CREATE TRIGGER refuse_offer BEFORE INSERT ON matching_offer "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_offer()"
                )

    yield install
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("DROP TRIGGER IF EXISTS refuse_offer")
        else:
            cursor.execute("DROP TRIGGER IF EXISTS refuse_offer ON matching_offer")
            cursor.execute("DROP FUNCTION IF EXISTS refuse_offer()")


def test_bad_row_in_the_middle_of_a_chunk_is_named_and_the_chunk_kept(write_catalogue):
    rows = [offer(f"o{i}") for i in range(20)]
    rows[9] = offer("o9", price="-1")
    seen = []
    batch = import_catalogue(directory=write_catalogue(rows), on_error=seen.append)
    assert [(e.line, e.offer_id) for e in seen] == [(11, "o9")]
    assert (batch.n_rows, batch.n_imported, batch.n_rejected) == (20, 19, 1)
    assert Offer.objects.count() == 19


def test_database_refusal_falls_back_to_rows_and_names_only_that_row(
    write_catalogue, refuse_offer_id
):
    rows = [offer(f"o{i}", images=[(f"i/{i}.png", (i, 9 * i, 3))]) for i in range(12)]
    folder = write_catalogue(rows)
    refuse_offer_id("o6")
    seen = []
    batch = import_catalogue(directory=folder, on_error=seen.append)
    assert [(e.line, e.offer_id) for e in seen] == [(8, "o6")]
    assert "not stored" in seen[0].reason and "refused" in seen[0].reason
    assert (batch.n_imported, batch.n_rejected, batch.n_images) == (11, 1, 11)
    assert sorted(Offer.objects.values_list("offer_id", flat=True)) == sorted(
        f"o{i}" for i in range(12) if i != 6
    )
    # nothing of the refused row remains in media: not its original, not its 254x367 copy
    checksum = sha(folder / "i/6.png")
    assert not [name for name in media_files() if checksum in name]
    assert len([name for name in media_files() if name.startswith("offers/original")]) == 11


def test_rejected_row_leaves_none_of_its_good_images(write_catalogue):
    folder = write_catalogue([offer("bad", images=[("i/good.png", (10, 20, 30))]), offer("ok")])
    (folder / "i/empty.jpg").write_bytes(b"")
    path = folder / "offers.csv"
    path.write_text(path.read_text().replace("i/good.png", "i/good.png|i/empty.jpg"))
    batch = import_catalogue(directory=folder)
    assert (batch.n_imported, batch.n_rejected) == (1, 1)
    assert "empty" in batch.errors[0]["reason"]
    assert media_files() == set()


def test_reimport_updates_changed_rows_in_bulk_and_is_idempotent(write_catalogue):
    first = [offer(f"o{i}", images=[(f"i/{i}.png", (i, 1, 1))]) for i in range(10)]
    import_catalogue(directory=write_catalogue(first, name="c"))
    second = list(first)
    second[2] = offer("o2", title="New title", images=[("i/2.png", (2, 1, 1))])
    second[5] = offer("o5", images=[("i/5b.png", (200, 1, 1)), ("i/5c.png", (1, 200, 1))])
    second.append(offer("o10"))
    folder = write_catalogue(second, name="c")
    batch = import_catalogue(directory=folder)
    assert (batch.n_imported, batch.n_updated, batch.n_unchanged) == (1, 2, 8)
    assert Offer.objects.get(offer_id="o2").title == "New title"
    o5 = Offer.objects.get(offer_id="o5")
    assert list(o5.images.values_list("source_path", flat=True)) == ["i/5b.png", "i/5c.png"]
    assert o5.import_batch == batch
    assert OfferImage.objects.count() == 11
    again = import_catalogue(directory=folder)
    assert (again.n_imported, again.n_updated, again.n_unchanged) == (0, 0, 11)
    assert Offer.objects.count() == 11


def test_images_prepared_by_worker_processes(write_catalogue, monkeypatch):
    monkeypatch.setattr(catalogue_import, "POOL_MIN_IMAGES", 0)
    monkeypatch.setattr(catalogue_import, "IMAGE_WORKERS", 2)
    rows = [offer(f"o{i}", images=[(f"i/{i}.png", (i * 20, 5, 5))]) for i in range(6)]
    rows.append(offer("bad", images="i/bad.jpg"))
    folder = write_catalogue(rows)
    (folder / "i/bad.jpg").write_bytes(b"not an image")
    batch = import_catalogue(directory=folder)
    assert (batch.n_imported, batch.n_rejected, batch.n_images) == (6, 1, 6)
    for image in OfferImage.objects.all():
        assert Path(image.preprocessed.path).is_file() and Path(image.original.path).is_file()
    assert len(media_files()) == 12


def test_counts_are_committed_with_each_chunk(write_catalogue, monkeypatch):
    monkeypatch.setattr(catalogue_import, "CHUNK_ROWS", 3)
    stored = []

    def progress(done, total):
        batch = ImportBatch.objects.get()
        stored.append((batch.status, batch.n_rows, batch.n_imported, batch.heartbeat_at))

    import_catalogue(
        directory=write_catalogue([offer(f"o{i}") for i in range(7)]), progress=progress
    )
    assert [s[:3] for s in stored] == [("running", 3, 3), ("running", 6, 6), ("running", 7, 7)]
    assert all(s[3] is not None for s in stored)


def test_a_chunk_ends_early_at_its_image_limit(write_catalogue, monkeypatch):
    monkeypatch.setattr(catalogue_import, "CHUNK_IMAGES", 3)
    rows = [
        offer(f"o{i}", images=[(f"i/{i}.png", (i, 2 * i, 3))] if i < 4 else []) for i in range(9)
    ]
    stored = []
    batch = import_catalogue(
        directory=write_catalogue(rows),
        progress=lambda done, total: stored.append(ImportBatch.objects.get().n_rows),
    )
    assert stored == [3, 9]  # o0-o2 (3 images), then the rest (1 image) in one chunk
    assert (batch.n_imported, batch.n_images) == (9, 4)


def test_batch_of_a_dead_process_is_interrupted_with_its_counts(admin_client):
    host = socket.gethostname()
    dead = ImportBatch.objects.create(
        source="x",
        host=host,
        pid=dead_pid(),
        n_imported=512,
        n_rows=512,
        heartbeat_at=timezone.now(),
    )
    alive = ImportBatch.objects.create(
        source="y", host=host, pid=os.getpid(), heartbeat_at=timezone.now()
    )
    stale = ImportBatch.objects.create(
        source="z", host="elsewhere", pid=1, heartbeat_at=timezone.now() - timedelta(hours=2)
    )
    listing = admin_client.get("/admin/matching/importbatch/")
    assert b"interrupted (the import process died)" in listing.content
    dead.refresh_from_db(), alive.refresh_from_db(), stale.refresh_from_db()
    assert (dead.status, dead.n_imported, dead.n_rows) == ("interrupted", 512, 512)
    assert dead.finished_at is not None
    assert alive.status == "running" and stale.status == "interrupted"
    assert mark_interrupted_batches() == 0


def test_next_import_marks_dead_batches_and_removes_their_temporary_files(write_catalogue):
    dead = ImportBatch.objects.create(
        source="x", host=socket.gethostname(), pid=dead_pid(), heartbeat_at=timezone.now()
    )
    folder = Path(settings.MEDIA_ROOT) / TMP_DIR
    folder.mkdir(parents=True)
    leftover = folder / f"b{dead.pk}-{dead.pid}-123.tmp"
    leftover.write_bytes(b"half an image")
    unrelated = folder / "notes.txt"
    unrelated.write_text("not ours")
    import_catalogue(directory=write_catalogue([offer("o1")]))
    dead.refresh_from_db()
    assert dead.status == ImportBatch.Status.INTERRUPTED
    assert not leftover.exists() and unrelated.exists()


@pytest.mark.parametrize("link", [True, False])
def test_originals_are_links_or_copies_as_configured(write_catalogue, settings, monkeypatch, link):
    monkeypatch.setattr(catalogue_import, "POOL_MIN_IMAGES", 0)  # through the worker pool
    settings.FASHIONID_IMPORT_LINK_ORIGINALS = link
    folder = write_catalogue([offer(f"o{i}", images=[(f"i/{i}.png", (i, 2, 3))]) for i in range(3)])
    import_catalogue(directory=folder)
    for image in OfferImage.objects.all():
        stored = Path(image.original.path)
        assert os.path.samefile(stored, folder / image.source_path) is link
        assert sha(stored) == image.checksum


def test_files_a_machine_crash_left_empty_are_written_again(write_catalogue, settings):
    """Files are not fsynced one by one: after a crash of the machine a stored file may be
    empty although its row was committed; the next import writes it again."""
    settings.FASHIONID_IMPORT_LINK_ORIGINALS = False
    folder = write_catalogue([offer("o1", images=[("i/a.png", (9, 8, 7))])])
    import_catalogue(directory=folder)
    image = OfferImage.objects.get()
    original, small = Path(image.original.path), Path(image.preprocessed.path)
    good_small = small.read_bytes()
    original.write_bytes(b""), small.write_bytes(b"")
    again = import_catalogue(directory=folder)
    assert (again.n_unchanged, again.n_rejected) == (1, 0)
    assert sha(original) == image.checksum and small.read_bytes() == good_small


def test_a_killed_imports_link_is_removed_and_the_catalogue_file_kept(write_catalogue):
    """An import killed between linking an original under its temporary name and renaming it
    leaves a second name of the catalogue's file; the next import removes only that name,
    stores the original and the catalogue file stays as it was."""
    dead = ImportBatch.objects.create(
        source="x", host=socket.gethostname(), pid=dead_pid(), heartbeat_at=timezone.now()
    )
    folder = write_catalogue([offer("o1", images=[("i/a.png", (9, 8, 7))])])
    image = folder / "i/a.png"
    before = image.read_bytes()
    temporary = Path(settings.MEDIA_ROOT) / TMP_DIR / f"b{dead.pk}-{dead.pid}-5.tmp"
    temporary.parent.mkdir(parents=True)
    os.link(image, temporary)
    batch = import_catalogue(directory=folder)
    assert (batch.n_imported, batch.n_images) == (1, 1)
    assert not temporary.exists() and image.read_bytes() == before
    stored = OfferImage.objects.get()
    assert Path(stored.original.path).read_bytes() == before == image.read_bytes()
    assert sha(Path(stored.original.path)) == stored.checksum
    assert not any((Path(settings.MEDIA_ROOT) / TMP_DIR).iterdir())


def test_interrupt_marks_the_batch_interrupted(write_catalogue):
    def progress(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_catalogue(directory=write_catalogue([offer("o1")]), progress=progress)
    batch = ImportBatch.objects.get()
    assert (batch.status, batch.n_imported) == ("interrupted", 1)


def test_file_of_a_refused_row_stays_when_a_later_row_uses_it(
    write_catalogue, refuse_offer_id, monkeypatch
):
    monkeypatch.setattr(catalogue_import, "CHUNK_ROWS", 2)
    rows = [
        offer("o1", images=[("i/a.png", (40, 50, 60))]),
        offer("o2"),
        offer("o3", images=[("i/same-as-a.png", (40, 50, 60))]),  # same bytes, same media file
    ]
    folder = write_catalogue(rows)
    refuse_offer_id("o1")
    batch = import_catalogue(directory=folder)
    assert (batch.n_imported, batch.n_rejected) == (2, 1)
    (image,) = OfferImage.objects.filter(offer__offer_id="o3")
    assert Path(image.original.path).is_file() and Path(image.preprocessed.path).is_file()
    assert sha(folder / "i/a.png") == image.checksum


def test_read_ahead_names_a_bad_row_in_a_chunk_and_keeps_the_rest(write_catalogue, monkeypatch):
    """The reader process path: same errors, counts and idempotence as reading in process."""
    monkeypatch.setattr(catalogue_import, "CHUNK_ROWS", 4)
    monkeypatch.setattr(catalogue_import, "READ_AHEAD_MIN_ROWS", 0)
    rows = [
        offer(f"o{i}", images=[(f"i/{i}.png", (i, 7, 7))] if i % 3 == 0 else "") for i in range(10)
    ]
    rows[5] = offer("o5", created_at="2025-02-30")
    rows.append(offer("bad", images="i/bad.jpg"))
    folder = write_catalogue(rows)
    (folder / "i/bad.jpg").write_bytes(b"not an image")
    seen = []
    batch = import_catalogue(directory=folder, on_error=seen.append)
    assert [(e.line, e.offer_id) for e in seen] == [(7, "o5"), (12, "bad")]
    assert "not a real date" in seen[0].reason and "corrupt" in seen[1].reason
    assert (batch.n_rows, batch.n_imported, batch.n_rejected, batch.n_images) == (11, 9, 2, 4)
    assert sorted(Offer.objects.values_list("offer_id", flat=True)) == sorted(
        f"o{i}" for i in range(10) if i != 5
    )
    again = import_catalogue(directory=folder)
    assert (again.n_imported, again.n_unchanged, again.n_rejected) == (0, 9, 2)
    assert OfferImage.objects.count() == 4


def test_only_shops_with_earlier_offers_are_looked_up(write_catalogue, monkeypatch):
    monkeypatch.setattr(catalogue_import, "CHUNK_ROWS", 2)
    import_catalogue(directory=write_catalogue([offer("a1"), offer("a2")], name="first"))
    rows = [offer("a1", title="Changed"), offer("a2")]
    rows += [{"offer_id": f"b{i}", "shop": "beta", "title": f"Dress b{i}"} for i in range(3)]
    with CaptureQueriesContext(connection) as queries:
        batch = import_catalogue(directory=write_catalogue(rows, name="second"))
    assert (batch.n_imported, batch.n_updated, batch.n_unchanged) == (3, 1, 1)
    lookups = [q["sql"] for q in queries if 'FROM "matching_offer"' in q["sql"]]
    lookups = [sql for sql in lookups if "content_hash" in sql]  # the stored offers' fields
    assert len(lookups) == 1  # alpha's chunk; beta was new in this batch, never looked up
    assert Offer.objects.get(offer_id="a1").title == "Changed"
    again = import_catalogue(directory=write_catalogue(rows, name="second"))
    assert (again.n_imported, again.n_updated, again.n_unchanged) == (0, 0, 5)
