import math

import numpy as np

from matching.ml.pair_features import FEATURE_NAMES, Side, pair_features

COL = {name: i for i, name in enumerate(FEATURE_NAMES)}


def _unit(rows):
    x = np.asarray(rows, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _sides():
    query = Side(
        vectors=_unit([[1, 0], [0, 1]]),
        texts=["acme phone kx100 black", "zebra shirt"],
        brand_keys=["acme", ""],
        prices=[100.0, None],
        sizes=[("S", "M"), ()],
        categories=["Phones", ""],
    )
    index = Side(
        vectors=_unit([[1, 0.1], [1, 1], [0, 1]]),
        texts=["acme phone kx100 black", "acme phone kx200 black", "zebra shirt blue"],
        brand_keys=["acme", "acme corp", "zebra"],
        prices=[50.0, 100.0, 20.0],
        sizes=[("M", "L"), ("S", "M"), ()],
        categories=["Phones", "Cases", "Shirts"],
    )
    return query, index


def test_pair_features_values():
    query, index = _sides()
    cand = np.array([[0, 1, -1], [2, 1, -1]])
    score = np.array([[0.9, 0.7, -np.inf], [0.8, 0.75, -np.inf]], dtype=np.float32)
    x, q_pos, k_pos = pair_features(query=query, index=index, cand_idx=cand, cand_score=score)
    assert x.shape == (4, len(FEATURE_NAMES))
    assert list(q_pos) == [0, 0, 1, 1] and list(k_pos) == [0, 1, 0, 1]
    first, second = x[0], x[1]
    assert math.isclose(first[COL["tfidf"]], 1.0, abs_tol=1e-5)
    assert second[COL["tfidf"]] < 0.9
    assert math.isclose(first[COL["log_price_ratio"]], math.log(2), rel_tol=1e-5)
    assert math.isclose(second[COL["log_price_ratio"]], 0.0, abs_tol=1e-6)
    assert math.isclose(first[COL["size_overlap"]], 1 / 3, rel_tol=1e-5)
    assert first[COL["same_category"]] == 1 and second[COL["same_category"]] == 0
    assert first[COL["code_overlap"]] == 1 and second[COL["code_conflict"]] == 1
    assert first[COL["brand"]] == 1.0
    assert list(x[:, COL["rank"]]) == [0, 1, 0, 1]
    assert math.isclose(first[COL["margin_next"]], 0.2, abs_tol=1e-6)
    assert math.isclose(second[COL["gap_to_best"]], 0.2, abs_tol=1e-6)
    assert math.isclose(first[COL["cosine"]], float(query.vectors[0] @ index.vectors[0]))
    # index 1 is listed by both queries; query 1 scored it higher (0.75 > 0.7)
    assert math.isclose(second[COL["reciprocal_gap"]], 0.05, abs_tol=1e-6)
    assert x[3, COL["reciprocal_gap"]] == 0
    # unknown values are NaN: query 1 has no brand, price, sizes or category
    for name in ("brand", "log_price_ratio", "size_overlap", "same_category"):
        assert np.isnan(x[2, COL[name]]), name
    # no raw embeddings given
    assert np.isnan(x[:, COL["image_cosine"]]).all() and np.isnan(x[:, COL["text_cosine"]]).all()


def test_side_subset_keeps_rows_aligned():
    _query, index = _sides()
    index.text = _unit([[1, 0], [0, 1], [1, 1]])
    sub = index.subset([2, 0])
    assert sub.texts == ["zebra shirt blue", "acme phone kx100 black"]
    assert sub.prices == [20.0, 50.0]
    np.testing.assert_allclose(sub.text[1], index.text[0])
