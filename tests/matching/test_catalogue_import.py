"""The import service: offers, images, idempotence, rejected rows."""

import pytest
from PIL import Image

from matching.catalogue import CatalogueError
from matching.catalogue_import import import_catalogue
from matching.models import ImportBatch, Offer, OfferImage, Shop

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def offer(offer_id, shop="alpha", **extra):
    return {
        "offer_id": offer_id,
        "shop": shop,
        "brand": "ＡＤＩＤＡＳ  Originals",
        "title": f"Shirt {offer_id}",
        "price": "10.5",
        "sizes": "S|M",
        "created_at": "2025-01-01",
        "product_id": "p-" + offer_id,
        **extra,
    }


def test_import_creates_offers_images_and_preprocessed_copies(write_catalogue, settings):
    folder = write_catalogue(
        [
            offer("a1", images=[("i/a1_1.jpg", (255, 0, 0)), ("i/a1_2.png", (0, 0, 255))]),
            offer("b1", shop="beta", images=""),
        ]
    )
    batch = import_catalogue(directory=folder)
    assert (batch.n_imported, batch.n_rejected, batch.n_images) == (2, 0, 2)
    assert batch.status == ImportBatch.Status.DONE
    assert set(Shop.objects.values_list("name", flat=True)) == {"alpha", "beta"}
    a1 = Offer.objects.get(offer_id="a1")
    assert a1.text_normalised.startswith("ADIDAS Originals Shirt a1")
    assert a1.sizes == ["S", "M"]
    assert a1.import_batch == batch
    images = list(a1.images.order_by("position"))
    assert [i.source_path for i in images] == ["i/a1_1.jpg", "i/a1_2.png"]
    assert (images[0].width, images[0].height) == (60, 80)
    with Image.open(images[0].preprocessed.path) as small:
        assert small.size == (254, 367)
    assert images[1].original.path.endswith(".png")
    assert Offer.objects.get(offer_id="b1").images.count() == 0


def test_reimport_is_idempotent_and_updates(write_catalogue):
    rows = [offer("a1", images=[("i/a1.jpg", (10, 200, 10))]), offer("a2")]
    folder = write_catalogue(rows, name="cat")
    import_catalogue(directory=folder)
    again = import_catalogue(directory=folder)
    assert (again.n_imported, again.n_updated, again.n_unchanged) == (0, 0, 2)
    changed = write_catalogue(
        [offer("a1", title="New title", images=[("i/a1.jpg", (10, 200, 10))]), offer("a2")],
        name="cat",
    )
    third = import_catalogue(directory=changed)
    assert (third.n_imported, third.n_updated, third.n_unchanged) == (0, 1, 1)
    assert Offer.objects.count() == 2
    assert OfferImage.objects.count() == 1
    assert Offer.objects.get(offer_id="a1").title == "New title"


def test_replaced_image_changes_content_hash_and_drops_extra_images(write_catalogue):
    first = write_catalogue(
        [offer("a1", images=[("i/1.jpg", (1, 2, 3)), ("i/2.jpg", (9, 9, 9))])], name="c"
    )
    import_catalogue(directory=first)
    before = Offer.objects.get().content_hash
    second = write_catalogue([offer("a1", images=[("i/3.jpg", (200, 200, 3))])], name="c")
    batch = import_catalogue(directory=second)
    assert batch.n_updated == 1
    current = Offer.objects.get()
    assert current.content_hash != before
    assert list(current.images.values_list("source_path", flat=True)) == ["i/3.jpg"]


def test_corrupt_image_rejects_the_row_and_keeps_others(write_catalogue):
    folder = write_catalogue([offer("good"), offer("bad", images="i/bad.jpg"), offer("good2")])
    (folder / "i").mkdir()
    (folder / "i/bad.jpg").write_bytes(b"\xff\xd8 this is not a jpeg")
    seen = []
    batch = import_catalogue(directory=folder, on_error=seen.append)
    assert batch.n_rejected == 1 and batch.n_imported == 2
    assert batch.status == ImportBatch.Status.DONE_WITH_ERRORS
    assert "corrupt" in seen[0].reason and seen[0].line == 3
    assert batch.errors == [seen[0].as_dict()]
    assert not Offer.objects.filter(offer_id="bad").exists()
    ImportBatch.objects.get(pk=batch.pk)  # stored with its errors
    assert ImportBatch.objects.get(pk=batch.pk).errors[0]["line"] == 3


def test_file_level_error_imports_nothing_and_records_the_batch(write_catalogue):
    folder = write_catalogue([offer("a1")], columns=("offer_id", "shop"))
    with pytest.raises(CatalogueError):
        import_catalogue(directory=folder)
    assert Offer.objects.count() == 0
    batch = ImportBatch.objects.get()
    assert batch.status == ImportBatch.Status.FAILED
    assert "missing required column" in batch.errors[0]["reason"]


def test_identical_images_are_stored_once(write_catalogue, settings):
    folder = write_catalogue(
        [
            offer("a1", images=[("i/same.jpg", (5, 5, 5))]),
            offer("a2", images="i/same.jpg"),
        ]
    )
    import_catalogue(directory=folder)
    paths = set(OfferImage.objects.values_list("original", flat=True))
    assert len(paths) == 1
