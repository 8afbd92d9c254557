import math

import numpy as np
import pytest

from matching.ml.features import (
    NUMERIC_COLUMNS,
    NumericScaler,
    features_name,
    normalise_text,
    numeric_vector,
    parse_features,
    pool_image_embeddings,
)


def test_normalise_text_nfkc_and_whitespace() -> None:
    assert normalise_text("ＡＤＩＤＡＳ", "  Ultra\tBoost\n 22 ") == "ADIDAS Ultra Boost 22"
    assert normalise_text("", "ﬁne  shirt") == "fine shirt"
    assert normalise_text(None, None) == ""
    assert normalise_text("Nike", "Nike Air") == "Nike Nike Air"  # minimal: no de-duplication


def test_parse_features_canonical_order_and_errors() -> None:
    assert parse_features("text+image") == ("image", "text")
    assert parse_features("numeric,text") == ("text", "numeric")
    assert parse_features(["numeric", "image"]) == ("image", "numeric")
    assert parse_features(None) == ("image", "text", "numeric")
    assert features_name(parse_features("numeric+text")) == "text+numeric"
    with pytest.raises(ValueError, match="colour"):
        parse_features("colour")


def test_numeric_vector_with_missing_values() -> None:
    v = numeric_vector(sizes=["S", "M", "L", "XL"], price=39.95)
    np.testing.assert_allclose(v, [4, math.log(4), math.log(39.95)])
    missing = numeric_vector(sizes=[], price=None)
    assert np.isnan(missing).all()
    assert np.isnan(numeric_vector(sizes=["M"], price=0.0)[2])
    assert numeric_vector(sizes=["M"], price=float("nan"))[0] == 1.0


def test_numeric_scaler_imputes_flags_and_round_trips() -> None:
    raw = np.stack(
        [
            numeric_vector(sizes=["S", "M"], price=10.0),
            numeric_vector(sizes=["S", "M", "L", "XL"], price=None),
            numeric_vector(sizes=None, price=40.0),
            numeric_vector(sizes=["S", "M", "L"], price=20.0),
        ]
    )
    scaler = NumericScaler.fit(raw)
    out = scaler.transform(raw)
    assert out.shape == (4, len(NUMERIC_COLUMNS))
    assert out.dtype == np.float32 and np.isfinite(out).all()
    np.testing.assert_allclose(out[:, :3].mean(axis=0), 0, atol=1e-6)
    np.testing.assert_array_equal(out[:, 3], [0, 0, 1, 0])
    np.testing.assert_array_equal(out[:, 4], [0, 1, 0, 0])
    # imputed with the training median of n_sizes (3)
    assert scaler.median[0] == 3.0
    again = NumericScaler.from_dict(scaler.to_dict())
    np.testing.assert_array_equal(again.transform(raw), out)
    with pytest.raises(ValueError):
        scaler.transform(np.zeros((2, 2)))


def test_numeric_scaler_all_missing_column() -> None:
    raw = np.array([[1.0, 0.0, np.nan], [2.0, math.log(2), np.nan]])
    out = NumericScaler.fit(raw).transform(raw)
    assert np.isfinite(out).all()


def test_pool_image_embeddings() -> None:
    emb = np.array([[3.0, 0.0], [0.0, 2.0], [0.0, 5.0]])
    pooled, has = pool_image_embeddings(embeddings=emb, offer_index=np.array([0, 0, 2]), n_offers=3)
    np.testing.assert_allclose(pooled, [[0.5, 0.5], [0, 0], [0, 1]])
    np.testing.assert_array_equal(has, [True, False, True])


def test_image_pool_in_batches_equals_pooling_at_once() -> None:
    from matching.ml.features import ImagePool

    rng = np.random.default_rng(0)
    emb = rng.normal(size=(7, 4)).astype(np.float32)
    offers = np.array([3, 0, 3, 1, 0, 3, 1])
    expected, has = pool_image_embeddings(embeddings=emb, offer_index=offers, n_offers=5)
    pool = ImagePool(n_offers=5, dim=4)
    for s in range(0, 7, 3):
        pool.add(embeddings=emb[s : s + 3], offer_index=offers[s : s + 3])
    pool.add(embeddings=np.zeros((0, 4), np.float32), offer_index=np.zeros(0, np.int64))
    pooled, has_b = pool.result()
    np.testing.assert_allclose(pooled, expected, atol=1e-6)
    np.testing.assert_array_equal(has_b, [True, True, False, True, False])
    np.testing.assert_array_equal(has, has_b)
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    np.testing.assert_allclose(pooled[3], unit[[0, 2, 5]].mean(axis=0), atol=1e-6)
