import csv
from collections import Counter

import pytest

from demo.catalogue import CUTOFF, INDEX_SHOP, QUERY_SHOP, generate_demo_catalogue
from matching.catalogue import read_catalogue
from matching.catalogue_rows import CatalogueRow

pytestmark = pytest.mark.sqlite


def test_demo_catalogue_is_valid_deterministic_and_cross_shop(tmp_path):
    first = generate_demo_catalogue(directory=tmp_path / "a", n_products=30, seed=3)
    second = generate_demo_catalogue(directory=tmp_path / "b", n_products=30, seed=3)
    assert (first / "offers.csv").read_text() == (second / "offers.csv").read_text()
    rows = [item for item in read_catalogue(first)]
    assert all(isinstance(item, CatalogueRow) for item in rows)  # every row passes the checks
    assert len({row.shop for row in rows}) == 3
    per_product = Counter(row.product_id for row in rows)
    assert max(per_product.values()) >= 2  # products appear in several shops
    queries = [r for r in rows if r.shop == QUERY_SHOP and r.created_at >= CUTOFF]
    index = {r.product_id for r in rows if r.shop == INDEX_SHOP and r.created_at >= CUTOFF}
    assert any(r.product_id in index for r in queries)
    with (first / "offers.csv").open() as handle:
        titles = {row["shop"]: row["title"] for row in csv.DictReader(handle)}
    assert len(set(titles.values())) == 3  # each shop words titles its own way
