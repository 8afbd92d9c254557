import numpy as np
import pytest

from matching import embedding_store as store
from matching.ml import features as ml_features
from matching.models import Offer, Shop
from matching.services import features as feature_rows

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def _catalogue(n: int = 12):
    shop = Shop.objects.create(name="s")
    Offer.objects.bulk_create(
        Offer(
            shop=shop,
            offer_id=str(i),
            title=f"t{i}",
            text_normalised=f"t{i}",
            content_hash=f"h{i}",
            price=10 + i if i % 3 else None,
            sizes="S|M" if i % 2 else "",
        )
        for i in range(n)
    )
    offers = feature_rows.offer_rows(Offer.objects.order_by("pk"))
    rng = np.random.default_rng(0)
    encoders = {}
    for kind, dim in (("image", 6), ("text", 4)):
        encoders[kind] = store.get_or_create_encoder(
            kind=kind, spec=f"fake-{kind}", weights_checksum="c", dim=dim
        )
        vecs = rng.normal(size=(n, dim)).astype(np.float32) * (1 + np.arange(n))[:, None]
        if kind == "image":
            vecs[3] = 0  # an offer without images: a zero block stays zero
        store.write_chunk(
            encoder=encoders[kind],
            offer_pks=[o.pk for o in offers],
            content_hashes=[o.content_hash for o in offers],
            vectors=vecs,
            has_content=[i != 3 or kind != "image" for i in range(n)],
        )
    return offers, encoders


@pytest.mark.parametrize("features", [("image", "text"), ("image", "text", "numeric"), ("text",)])
def test_raw_vectors_in_place_equal_the_projected_blocks(features) -> None:
    offers, enc = _catalogue()
    order = offers[::-1]  # not in storage order
    encoders = {"image_encoder": enc["image"], "text_encoder": enc["text"]}
    scaler = None
    if "numeric" in features:
        scaler = ml_features.NumericScaler.fit(feature_rows.numeric_raw(offers))
    blocks = feature_rows.load_blocks(order, features, **encoders)
    expected = feature_rows.project(blocks, features=features, scaler=scaler, head=None)
    got = feature_rows.raw_vectors(order, features=features, scaler=scaler, **encoders)
    assert got.dtype == np.float32 and got.flags.c_contiguous
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-5)
    head_input = feature_rows.raw_vectors(
        order, features=features, scaler=scaler, l2_rows=False, **encoders
    )
    assembled = feature_rows.assemble(blocks, features, scaler)
    np.testing.assert_allclose(head_input, assembled, rtol=1e-5, atol=1e-6)


def test_load_embeddings_into_a_wrong_array_is_refused() -> None:
    offers, enc = _catalogue(5)
    with pytest.raises(ValueError, match="out must be float32"):
        store.load_embeddings(offers=offers, encoder=enc["text"], out=np.zeros((5, 5), np.float32))
