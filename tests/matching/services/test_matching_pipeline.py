import datetime as dt

import numpy as np
import pytest

from matching import embedding_store as store
from matching.ml.match_config import MatchConfig
from matching.ml.training import TrainConfig
from matching.models import Candidate, MatchRun, Offer, OfferEmbedding, ProjectionModel
from matching.services import encoding, training
from matching.services import matching as matching_service

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

CUTOFF = dt.date(2025, 7, 1)
SMALL = TrainConfig(dim=16, epochs=3, batch_size=64, patience=5, seed=0, calibration_share=0.0)


def _in_unit(value):
    return value is not None and 0.0 <= value <= 1.0


def test_end_to_end_import_encode_train_match(imported_cross_shop, specs, settings):
    imported_cross_shop()
    stats = encoding.encode_offers(**specs, num_workers=0)
    assert [s.encoder.kind for s in stats] == ["image", "text"]
    n = Offer.objects.count()
    assert all(s.n_encoded == n for s in stats)
    assert OfferEmbedding.objects.count() == 2 * n

    model = training.train_projection(
        train_shops=["atelier", "boulevard", "corso"],
        before=CUTOFF,
        features="image+text+numeric",
        config=SMALL,
        **specs,
    )
    model.refresh_from_db()
    assert model.status == ProjectionModel.Status.READY
    assert (settings.MEDIA_ROOT / model.weights_path).is_file()
    assert model.weights_path.startswith("models/")
    assert len(model.history) == 3 and set(model.numeric_scaler) == {"median", "mean", "std"}
    assert model.n_train_offers == 18 and model.n_train_products == 6
    assert _in_unit(model.metrics["val_R@1"])
    assert set(model.train_shops.values_list("name", flat=True)) == {
        "atelier",
        "boulevard",
        "corso",
    }

    for ref in (model.pk, "raw"):
        run = matching_service.match(
            query_shop="boulevard",
            index_shop="atelier",
            since=CUTOFF,
            model=ref,
            features=None if ref != "raw" else "image+text",
            config=MatchConfig(k=3),
            **specs,
        )
        run.refresh_from_db()
        assert run.status == MatchRun.Status.DONE
        assert run.n_queries == 8 and run.n_index == 8  # 6 products + 2 lone each
        m = run.metrics
        for key in ("R@1", "R@3", "AUCPR", "best_F1", "blocking_recall", "comparisons_share"):
            assert _in_unit(m[key]), (key, m[key])
        assert m["n_queries_with_match"] == 6
        assert m["comparisons"] < m["comparisons_unblocked"] == 64
        assert set(m["per_category"]) == {"Shoes", "(none)"}  # odd products + lone
        assert len(run.pr_curve["precision"]) == len(run.pr_curve["recall"]) > 0
        assert (settings.MEDIA_ROOT / run.plot_path).read_bytes()[:4] == b"\x89PNG"
        candidates = Candidate.objects.filter(run=run)
        assert candidates.filter(rank=1).count() == 8
        sims = list(candidates.filter(rank=1).values_list("similarity", flat=True))
        assert all(-1.001 <= s <= 1.001 for s in sims)
        assert not candidates.exclude(candidate_offer__shop__name="atelier").exists()
    assert run.model is None and run.features == "image+text"


def test_encoding_is_incremental_and_cache_reuses_vectors(
    imported_cross_shop, specs, tmp_path, write_catalogue
):
    imported_cross_shop(n_products=4)
    text_only = {"image_spec": None, "text_spec": specs["text_spec"]}
    first = encoding.encode_offers(**text_only, cache_dir=tmp_path / "cache")
    assert first[0].n_encoded == Offer.objects.count()
    again = encoding.encode_offers(**text_only)
    assert again[0].n_pending == 0 and again[0].n_encoded == 0

    offer = Offer.objects.get(offer_id="at1")
    before = store.load_embeddings(offers=[offer], encoder=first[0].encoder)
    Offer.objects.filter(pk=offer.pk).update(text_normalised="something else", content_hash="new")
    changed = encoding.encode_offers(**text_only, shops=["atelier"])
    assert changed[0].n_pending == 1 and changed[0].n_encoded == 1
    offer.refresh_from_db()
    after = store.load_embeddings(offers=[offer], encoder=first[0].encoder)
    assert not np.allclose(before, after)

    # a fresh store (rows gone) refills from the cache without running the model
    OfferEmbedding.objects.all().delete()
    from_cache = encoding.encode_offers(**text_only, cache_dir=tmp_path / "cache")
    assert from_cache[0].n_from_cache == Offer.objects.count() - 1
    assert from_cache[0].n_encoded == 1  # the changed offer was never cached


def test_offers_without_images_get_has_content_false(write_catalogue, specs):
    from matching.catalogue_import import import_catalogue

    folder = write_catalogue(
        [
            {"offer_id": "1", "shop": "s", "title": "a", "images": [("a.png", (9, 9, 9))]},
            {"offer_id": "2", "shop": "s", "title": "b"},
        ]
    )
    import_catalogue(directory=folder)
    (stats,) = encoding.encode_offers(image_spec=specs["image_spec"], text_spec=None)
    rows = dict(
        OfferEmbedding.objects.filter(encoder=stats.encoder).values_list(
            "offer__offer_id", "has_content"
        )
    )
    assert rows == {"1": True, "2": False}


def test_match_without_embeddings_fails_clearly(imported_cross_shop):
    imported_cross_shop(n_products=2, images=False)
    with pytest.raises(store.EncoderNotFound, match="manage.py encode"):
        matching_service.match(query_shop="boulevard", index_shop="atelier", features="text")


def test_failed_training_is_recorded(imported_cross_shop, specs):
    imported_cross_shop(n_products=2, images=False)
    encoding.encode_offers(image_spec=None, text_spec=specs["text_spec"])
    with pytest.raises(ValueError, match="no training offers"):
        training.train_projection(
            train_shops=["atelier"], before=dt.date(2000, 1, 1), features="text", config=SMALL
        )
    assert ProjectionModel.objects.get().status == ProjectionModel.Status.FAILED


def test_calibrate_scores_held_out_offers_across_shops():
    """training.calibrate: each shop's held-out offers query the other shops' held-out offers;
    a clean and a noisy half of the products give a calibration that tells them apart."""
    from types import SimpleNamespace

    rng = np.random.default_rng(0)
    offers, vecs = [], []
    for p in range(60):
        base = rng.normal(size=16)
        noise = 0.1 if p < 30 else 2.0
        for shop in (1, 2):
            offers.append(
                SimpleNamespace(shop_id=shop, product_id=f"p{p}", brand_normalised="",
                                text_normalised=f"offer {p} {shop}")
            )  # fmt: skip
            vecs.append(base + noise * rng.normal(size=16))
    for i in range(10):  # lone offers: no true match anywhere
        offers.append(
            SimpleNamespace(shop_id=1 + i % 2, product_id="", brand_normalised="",
                            text_normalised=f"lone {i}")
        )  # fmt: skip
        vecs.append(rng.normal(size=16))
    v = np.asarray(vecs, dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    config = MatchConfig(brand_threshold=None, text_weight=0.0)
    cal, note = training.calibrate(
        offers=offers, vectors=v, features=("text",), config=config, n_shops=2
    )
    assert cal is not None and note == "calibrated on 130 held-out queries"
    assert cal.metrics["n_queries"] == 130 and cal.metrics["n_with_match"] == 120
    assert cal.setup["match_config"] == config.to_dict()
    p = cal.predict_top1(np.linspace(-1, 1, 50))
    assert np.all(np.diff(p) >= 0) and p[-1] > 0.9 and p[0] < 0.5
    assert (
        training.calibrate(offers=offers, vectors=v, features=("text",), config=config, n_shops=1)[
            0
        ]
        is None
    )
    few, note = training.calibrate(
        offers=offers[:10], vectors=v[:10], features=("text",), config=config, n_shops=2
    )
    assert few is None and "too few" in note


def test_training_holds_out_a_calibration_split(imported_cross_shop, specs):
    imported_cross_shop()
    encoding.encode_offers(**specs, num_workers=0)
    config = TrainConfig(
        dim=16, epochs=2, batch_size=64, seed=0, calibration_share=0.3, discriminator_folds=0
    )  # the held-out split (out-of-fold training holds none out: test_discriminator_service)
    model = training.train_projection(
        train_shops=["atelier", "boulevard", "corso"], before=CUTOFF,
        features="image+text+numeric", config=config, **specs,
    )  # fmt: skip
    model.refresh_from_db()
    assert model.status == ProjectionModel.Status.READY
    held = model.metrics["n_calibration_offers"]
    assert held > 0 and model.n_train_offers + held == 18
    # the tiny catalogue has too few held-out queries: the model says so, stores none
    assert "too few" in model.metrics["calibration"] and model.calibration == {}


def test_calibrate_with_distractors_from_the_other_shops():
    """Training offers of the other shops join the index as distractors (a production-sized
    index): a distractor closer than the true match takes the top-1."""
    from types import SimpleNamespace

    rng = np.random.default_rng(1)
    offers, vecs = [], []
    for p in range(30):
        base = rng.normal(size=16)
        for shop in (1, 2):
            offers.append(
                SimpleNamespace(shop_id=shop, product_id=f"p{p}", brand_normalised="",
                                text_normalised="")
            )  # fmt: skip
            vecs.append(base + 0.3 * rng.normal(size=16))
    v = np.asarray(vecs, dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    # distractors in shop 2: exact copies of the shop-1 offers, other products
    distractors = [
        SimpleNamespace(shop_id=2, product_id=f"d{i}", brand_normalised="", text_normalised="")
        for i in range(30)
    ]
    config = MatchConfig(brand_threshold=None, text_weight=0.0)
    plain, _ = training.calibrate(offers=offers, vectors=v, features=("text",), config=config,
                                  n_shops=2)  # fmt: skip
    hard, _ = training.calibrate(
        offers=offers, vectors=v, features=("text",), config=config, n_shops=2,
        distractors=distractors, distractor_vectors=v[0::2].copy(),
    )  # fmt: skip
    assert plain.metrics["R@1"] > 0.9
    assert hard.metrics["n_queries"] == 60 and hard.setup["n_distractors"] == 30
    assert hard.metrics["R@1"] <= 0.5 + 1e-9  # every shop-1 query now hits its copy
