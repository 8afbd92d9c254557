import numpy as np

from matching.ml.grouping import group_by_product


def test_products_in_order_of_first_appearance_and_lone_offers_last():
    groups = group_by_product(["a", None, "b", "a", "", float("nan"), "b"])
    assert [g.tolist() for g in groups] == [[0, 3], [2, 6], [1], [4], [5]]
    assert all(g.dtype == np.int64 for g in groups)
