import numpy as np
import pytest

from matching import embedding_store as store
from matching.models import EmbeddingChunk, Offer, OfferEmbedding, Shop

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def _offers(n):
    shop = Shop.objects.create(name="s")
    Offer.objects.bulk_create(
        Offer(
            shop=shop, offer_id=str(i), title=f"t{i}", text_normalised=f"t{i}", content_hash=f"h{i}"
        )
        for i in range(n)
    )
    return list(Offer.objects.order_by("pk"))


def _encoder(dim=4):
    return store.get_or_create_encoder(kind="text", spec="fake", weights_checksum="c", dim=dim)


def test_write_and_load_round_trip_float16_mmap_in_requested_order(settings):
    offers = _offers(5)
    encoder = _encoder()
    vectors = np.arange(20, dtype=np.float32).reshape(5, 4) / 10
    chunk = store.write_chunk(
        encoder=encoder,
        offer_pks=[o.pk for o in offers],
        content_hashes=[o.content_hash for o in offers],
        vectors=vectors,
        has_content=[True, True, False, True, True],
    )
    on_disk = np.load(settings.MEDIA_ROOT / chunk.path, mmap_mode="r")
    assert on_disk.dtype == np.float16 and isinstance(on_disk, np.memmap)
    assert chunk.path.startswith(f"embeddings/{encoder.pk}/")
    order = [offers[3], offers[0], offers[4]]
    loaded, mask = store.load_embeddings(offers=order, encoder=encoder, with_mask=True)
    assert loaded.dtype == np.float32
    np.testing.assert_allclose(loaded, vectors[[3, 0, 4]], atol=1e-3)
    assert mask.tolist() == [True, True, True]
    qs_loaded = store.load_embeddings(offers=Offer.objects.order_by("-pk"), encoder=encoder)
    np.testing.assert_allclose(qs_loaded, vectors[::-1], atol=1e-3)


def test_pending_incremental_and_rewrite_repoints_rows_and_prunes(settings):
    offers = _offers(4)
    encoder = _encoder()
    qs = Offer.objects.all()
    assert store.pending_offers(encoder=encoder, offers=qs).count() == 4
    store.write_chunk(
        encoder=encoder,
        offer_pks=[o.pk for o in offers[:3]],
        content_hashes=[o.content_hash for o in offers[:3]],
        vectors=np.ones((3, 4)),
        has_content=[True] * 3,
    )
    assert list(store.pending_offers(encoder=encoder, offers=qs)) == [offers[3]]
    Offer.objects.filter(pk=offers[0].pk).update(content_hash="changed")
    assert set(store.pending_offers(encoder=encoder, offers=qs)) == {offers[0], offers[3]}
    with pytest.raises(store.MissingEmbeddings):
        store.load_embeddings(offers=Offer.objects.filter(pk=offers[0].pk), encoder=encoder)
    first = EmbeddingChunk.objects.get()
    store.write_chunk(
        encoder=encoder,
        offer_pks=[offers[0].pk, offers[1].pk, offers[2].pk],
        content_hashes=["changed", offers[1].content_hash, offers[2].content_hash],
        vectors=np.full((3, 4), 2.0),
        has_content=[True] * 3,
    )
    assert OfferEmbedding.objects.count() == 3  # upserted, not duplicated
    # the replaced chunk is orphaned: write_chunk removed its row and its file
    assert not (settings.MEDIA_ROOT / first.path).exists()
    assert not EmbeddingChunk.objects.filter(pk=first.pk).exists()
    assert store.prune_chunks(encoder) == 0
    loaded = store.load_embeddings(offers=Offer.objects.filter(pk=offers[0].pk), encoder=encoder)
    assert loaded.tolist() == [[2.0] * 4]


def test_missing_embeddings_error_names_offers():
    offers = _offers(2)
    with pytest.raises(store.MissingEmbeddings, match="2 offer"):
        store.load_embeddings(offers=offers, encoder=_encoder())


def test_cache_round_trip(tmp_path):
    encoder = _encoder(dim=3)
    store.cache_store(tmp_path, encoder, ["a", "b"], np.eye(3)[:2], [True, False])
    found = store.cache_lookup(tmp_path, encoder, ["b", "c"])
    assert set(found) == {"b"}
    assert found["b"][0].tolist() == [0.0, 1.0, 0.0] and found["b"][1] is False
    other = store.get_or_create_encoder(kind="text", spec="fake", weights_checksum="d", dim=3)
    assert store.cache_lookup(tmp_path, other, ["a"]) == {}


def test_partly_replaced_chunk_is_kept_and_orphans_are_pruned(settings):
    offers, encoder = _offers(2), _encoder()
    first = store.write_chunk(
        encoder=encoder,
        offer_pks=[o.pk for o in offers[:2]],
        content_hashes=[o.content_hash for o in offers[:2]],
        vectors=np.ones((2, 4)),
        has_content=[True] * 2,
    )
    second = store.write_chunk(  # replaces offer 0 only: the first chunk still holds offer 1
        encoder=encoder,
        offer_pks=[offers[0].pk],
        content_hashes=[offers[0].content_hash],
        vectors=np.full((1, 4), 3.0),
        has_content=[True],
    )
    assert (settings.MEDIA_ROOT / first.path).exists()
    store.write_chunk(  # replaces offer 1: the first chunk is now an orphan
        encoder=encoder,
        offer_pks=[offers[1].pk],
        content_hashes=[offers[1].content_hash],
        vectors=np.full((1, 4), 4.0),
        has_content=[True],
    )
    assert not (settings.MEDIA_ROOT / first.path).exists()
    assert (settings.MEDIA_ROOT / second.path).exists()
    assert EmbeddingChunk.objects.count() == 2
    assert not EmbeddingChunk.objects.filter(pk=first.pk).exists()
    assert sorted(p.name for p in (settings.MEDIA_ROOT / "embeddings").rglob("*.npy")) == sorted(
        c.path.rsplit("/", 1)[1] for c in EmbeddingChunk.objects.all()
    )


@pytest.mark.parametrize("every", [2, 5])  # dense: one pk-range read; sparse: IN lists
def test_load_reads_only_the_requested_offers_inside_a_range_or_by_lists(every, monkeypatch):
    offers = _offers(40)
    encoder = _encoder()
    vectors = np.arange(160, dtype=np.float32).reshape(40, 4) / 100
    store.write_chunk(
        encoder=encoder,
        offer_pks=[o.pk for o in offers],
        content_hashes=[o.content_hash for o in offers],
        vectors=vectors,
        has_content=[True] * 40,
    )
    monkeypatch.setattr(store, "IN_BATCH", 3)
    wanted = list(range(0, 40, every))[::-1]  # others inside the pk range are left out
    queries = store._embedding_rows(encoder, [offers[i].pk for i in wanted])
    assert len(queries) == (1 if every == 2 else 3)
    loaded = store.load_embeddings(offers=[offers[i] for i in wanted], encoder=encoder)
    np.testing.assert_allclose(loaded, vectors[wanted], atol=1e-3)
    offers[wanted[0]].content_hash = "changed"  # a stale one is still refused
    with pytest.raises(store.MissingEmbeddings, match="1 offer"):
        store.load_embeddings(offers=[offers[i] for i in wanted], encoder=encoder)
