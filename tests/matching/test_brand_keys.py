"""Offer.brand_normalised holds the blocking key (retrieval.brand_key) and matching uses it."""

import importlib

import pytest
from django.apps import apps

from matching.catalogue_import import import_catalogue
from matching.ml.brands import brand_key
from matching.models import Offer

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

BRANDS = ["adidas Originals", "ADIDAS TERREX", "Levi's® Jeans", "Tommy Hilfiger Inc.", ""]


def test_import_stores_the_blocking_key(write_catalogue):
    folder = write_catalogue(
        [{"offer_id": str(i), "shop": "s", "brand": b, "title": "t"} for i, b in enumerate(BRANDS)]
    )
    import_catalogue(directory=folder)
    stored = dict(Offer.objects.values_list("brand", "brand_normalised"))
    assert stored == {b: brand_key(b) for b in BRANDS}
    assert stored["adidas Originals"] == stored["ADIDAS TERREX"] == "adidas"


def test_migration_recomputes_keys_of_existing_offers(write_catalogue):
    folder = write_catalogue(
        [{"offer_id": "1", "shop": "s", "brand": "adidas Originals", "title": "t"}]
    )
    import_catalogue(directory=folder)
    Offer.objects.update(brand_normalised="adidas originals")  # the old, looser normaliser
    migration = importlib.import_module("matching.migrations.0002_matchrun_config_brand_keys")
    migration.store_brand_keys(apps, None)
    assert Offer.objects.get().brand_normalised == "adidas"


def test_matching_blocks_on_the_stored_keys(monkeypatch):
    """The service hands the stored keys, not the raw brands, to the search."""
    from matching.services import matching as matching_service

    seen = {}

    def search(config, q_vecs, i_vecs, q_keys, i_keys, q_texts, i_texts):
        seen["keys"] = (q_keys, i_keys)
        raise RuntimeError("stop")

    monkeypatch.setattr(matching_service, "search_offers", search)
    from matching.models import Shop
    from matching.services import features

    shop_a, shop_b = Shop.objects.create(name="a"), Shop.objects.create(name="b")
    for shop, brand in ((shop_a, "ADIDAS"), (shop_b, "adidas Originals")):
        Offer.objects.create(
            shop=shop, offer_id="1", brand=brand, brand_normalised=f"stored-{shop.name}",
            title="t", text_normalised="t",
        )  # fmt: skip
    monkeypatch.setattr(features, "load_blocks", lambda offers, feats, **kwargs: None)
    monkeypatch.setattr(features, "project", lambda blocks, **kwargs: None)
    monkeypatch.setattr(features, "raw_vectors", lambda offers, **kwargs: None)
    monkeypatch.setattr(features, "resolve_encoders", lambda *args: (None, None))
    with pytest.raises(RuntimeError, match="stop"):
        matching_service.match(query_shop="a", index_shop="b", features="text", plot=False)
    assert seen["keys"] == (["stored-a"], ["stored-b"])
