"""A tiny cross-shop catalogue for the matching-engine tests (import, encode, train, match)."""

from __future__ import annotations

import random

import pytest

TINY_IMAGE_ENCODER = "timm:test_efficientnet"  # random init, tiny: fast on CPU
CUTOFF = "2025-07-01"
BRANDS = ["Acme", "Zebra Originals", "Nordwind", "Hugo", ""]
CATEGORIES = ["Tshirts", "Shoes"]


def cross_shop_rows(
    *, n_products: int = 12, shops=("atelier", "boulevard", "corso"), images: bool = True, seed=0
) -> list[dict]:
    """Every product appears in every shop; half of them before the cut-off, half after.

    Each shop writes the brand and title a little differently; a product's images share its
    colour. Two lone offers per shop have no match.
    """
    rng = random.Random(seed)
    rows = []
    for p in range(n_products):
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        brand = BRANDS[p % len(BRANDS)]
        created = "2025-01-01" if p % 2 == 0 else "2025-08-01"
        for s, shop in enumerate(shops):
            shop_brand = brand.upper() if s == 1 else brand
            row = {
                "offer_id": f"{shop[:2]}{p}",
                "shop": shop,
                "brand": shop_brand,
                "title": f"{['', 'Men ', 'The '][s]}product {p} {['red', 'blue', 'green'][p % 3]}",
                "price": f"{10 + 3 * p}.95",
                "currency": "EUR",
                "sizes": "S|M|L" if p % 3 else "",
                "category": CATEGORIES[p % 2],
                "created_at": created,
                "product_id": f"p{p}",
            }
            if images:
                row["images"] = [
                    (f"img/{shop}/{p}_{i}.png", tuple((c + 7 * s + i) % 256 for c in colour))
                    for i in range(2)
                ]
            rows.append(row)
    for s, shop in enumerate(shops):
        for j in range(2):
            rows.append(
                {
                    "offer_id": f"{shop[:2]}lone{j}",
                    "shop": shop,
                    "brand": "Lonely",
                    "title": f"lone offer {s} {j}",
                    "price": "5.00",
                    "created_at": "2025-08-01",
                    "product_id": f"lone-{shop}-{j}",
                    "images": [(f"img/{shop}/lone{j}.png", (s * 40, j * 90, 128))]
                    if images
                    else "",
                }
            )
    return rows


@pytest.fixture
def cross_shop_catalogue(write_catalogue):
    """Write a tiny cross-shop catalogue folder; keyword arguments as `cross_shop_rows`."""

    def write(**kwargs):
        return write_catalogue(cross_shop_rows(**kwargs))

    return write


@pytest.fixture
def imported_cross_shop(cross_shop_catalogue):
    """The tiny catalogue imported into the test database; returns its folder."""
    from matching.catalogue_import import import_catalogue

    def load(**kwargs):
        folder = cross_shop_catalogue(**kwargs)
        batch = import_catalogue(directory=folder)
        assert batch.n_rejected == 0, batch.errors
        return folder

    return load


@pytest.fixture
def specs():
    """Encoder specs for fast tests: a tiny random-init image tower, the real MiniLM text tower."""
    return {"image_spec": TINY_IMAGE_ENCODER, "text_spec": "minilm"}
