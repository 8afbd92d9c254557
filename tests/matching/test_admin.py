import pytest

from matching.catalogue_import import import_catalogue
from matching.models import ImportBatch

pytestmark = pytest.mark.django_db


def test_admin_lists_offers_and_shows_import_errors(admin_client, write_catalogue):
    folder = write_catalogue(
        [
            {"offer_id": "1", "shop": "s", "title": "Blue shirt", "images": [("a.jpg", (1, 2, 3))]},
            {"offer_id": "2", "shop": "s", "title": "", "price": "1"},
        ]
    )
    batch = import_catalogue(directory=folder)
    page = admin_client.get("/admin/matching/offer/?q=Blue")
    assert page.status_code == 200 and b"Blue shirt" in page.content
    assert admin_client.get("/admin/matching/offer/1/change/").status_code in (200, 302)
    listing = admin_client.get("/admin/matching/importbatch/")
    assert listing.status_code == 200 and b"done with rejected rows" in listing.content
    detail = admin_client.get(f"/admin/matching/importbatch/{batch.pk}/change/")
    assert b"title is empty" in detail.content
    for model in ("shop", "encoder", "projectionmodel", "matchrun", "candidate"):
        assert admin_client.get(f"/admin/matching/{model}/").status_code == 200
    assert ImportBatch.objects.count() == 1


def test_admin_shows_a_run_of_a_dead_process_as_interrupted(admin_client):
    import subprocess
    import sys

    from matching import selectors
    from matching.models import MatchRun, Shop

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    shop = Shop.objects.create(name="s")
    MatchRun.objects.create(
        query_shop=shop, index_shop=shop, features="text",
        worker_host=selectors.this_host(), worker_pid=child.pid,
    )  # fmt: skip
    page = admin_client.get("/admin/matching/matchrun/")
    assert page.status_code == 200 and b"interrupted" in page.content
