import pytest

from demo import catalogue
from demo.services import mark_shops_synthetic
from matching.models import Shop
from matching.selectors import catalogue_is_synthetic

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def test_marks_only_the_named_shops():
    Shop.objects.create(name="real-shop")
    Shop.objects.create(name=catalogue.INDEX_SHOP)
    assert not catalogue_is_synthetic()
    assert mark_shops_synthetic() == 1  # default: the demo catalogue's shops that exist
    assert set(Shop.objects.filter(synthetic=True).values_list("name", flat=True)) == {
        catalogue.INDEX_SHOP
    }
    assert catalogue_is_synthetic()


def test_demo_catalogue_writes_no_marker_file(tmp_path):
    folder = catalogue.generate_demo_catalogue(directory=tmp_path / "demo", n_products=3)
    assert sorted(p.name for p in folder.iterdir()) == ["images", "offers.csv"]
    shops = {line.split(",")[1] for line in (folder / "offers.csv").read_text().splitlines()[1:]}
    assert shops <= set(catalogue.SHOP_NAMES)
