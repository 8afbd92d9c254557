import datetime as dt

import numpy as np
import pytest

from matching.ml.match_config import MatchConfig
from matching.ml.training import TrainConfig
from matching.models import Candidate, ProjectionModel
from matching.services import encoding, training
from matching.services import matching as matching_service

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

CUTOFF = dt.date(2025, 7, 1)


def test_model_trains_a_discriminator_and_match_uses_it(cross_shop_catalogue, settings):
    from matching.catalogue_import import import_catalogue

    folder = cross_shop_catalogue(n_products=120, shops=("atelier", "boulevard"), images=False)
    import_catalogue(directory=str(folder))
    encoding.encode_offers(image_spec=None, text_spec="minilm", num_workers=0)
    config = TrainConfig(dim=16, epochs=3, batch_size=64, seed=0, calibration_share=0.5)
    model = training.train_projection(
        train_shops=["atelier", "boulevard"], before=CUTOFF, features="text+numeric",
        config=config, image_spec=None, text_spec="minilm",
    )  # fmt: skip
    model.refresh_from_db()
    assert model.status == ProjectionModel.Status.READY, model.error
    assert model.discriminator_path.startswith("models/discriminator-")
    assert (settings.MEDIA_ROOT / model.discriminator_path).is_file()
    assert model.discriminator["n_positive"] >= 20 and "tfidf" in model.discriminator["features"]
    assert "discriminator" in model.calibration["setup"]["retrieval"]
    # the training time split (out-of-fold: fold projections, shortlists + pair features)
    assert (
        0 < model.discriminator["seconds_fold_projections"] < model.discriminator["seconds_total"]
    )
    assert model.discriminator["seconds_shortlists_and_features"] > 0
    runs = {}
    for flag in (True, False):
        run = matching_service.match(
            query_shop="boulevard", index_shop="atelier", since=CUTOFF, model=model,
            config=MatchConfig(discriminator=flag), image_spec=None, text_spec="minilm",
        )  # fmt: skip
        run.refresh_from_db()
        assert run.metrics["discriminator"] is flag and run.config["discriminator"] is flag
        # what each stage of the discriminator's search cost (only when it ran)
        stages = run.metrics.get("discriminator_seconds", {})
        assert bool(stages) is flag
        if flag:
            assert {"shortlist", "tfidf_fit", "tfidf", "title", "predict", "rank"} <= set(stages)
            assert sum(stages.values()) <= run.metrics["seconds"]["search"]
        runs[flag] = run
    sims = np.array(
        Candidate.objects.filter(run=runs[True], rank=1).values_list("similarity", flat=True)
    )
    # probabilities (less the unassigned penalty), not cosines
    assert (sims <= 1).all() and (sims >= -0.5).all()
    assert runs[True].metrics["R@1"] >= 0.5
    assert runs[True].n_queries == runs[False].n_queries == 62


def test_raw_runs_and_models_without_discriminator_are_unchanged(cross_shop_catalogue):
    from matching.catalogue_import import import_catalogue

    folder = cross_shop_catalogue(n_products=6, shops=("atelier", "boulevard"), images=False)
    import_catalogue(directory=str(folder))
    encoding.encode_offers(image_spec=None, text_spec="minilm", num_workers=0)
    model = training.train_projection(
        train_shops=["atelier", "boulevard"], before=CUTOFF, features="text",
        config=TrainConfig(dim=8, epochs=2, batch_size=16, calibration_share=0.5),
        image_spec=None, text_spec="minilm",
    )  # fmt: skip
    model.refresh_from_db()
    assert model.discriminator_path == "" and "no discriminator" in model.discriminator["note"]
    run = matching_service.match(
        query_shop="boulevard", index_shop="atelier", since=CUTOFF, model=model,
        image_spec=None, text_spec="minilm",
    )  # fmt: skip
    assert run.metrics["discriminator"] is False


def test_out_of_fold_training_uses_every_offer_once_and_unseen(cross_shop_catalogue, monkeypatch):
    from matching.catalogue_import import import_catalogue
    from matching.ml import training as ml_training
    from matching.services import discriminator as disc_service

    folder = cross_shop_catalogue(n_products=60, shops=("atelier", "boulevard"), images=False)
    import_catalogue(directory=str(folder))
    encoding.encode_offers(image_spec=None, text_spec="minilm", num_workers=0)
    seen: list[set] = []  # the products each fold projection trained on
    collected: list[set] = []  # the product of every query each fold's shortlists used
    real_train, real_collect = ml_training.train_projection, disc_service.collect

    def spy_train(**kwargs):
        seen.append({p for p in kwargs["product_ids"] if p})
        return real_train(**kwargs)

    def spy_collect(pairs, **kwargs):
        collected.append({kwargs["pids"][i] for i in kwargs["held"]})
        return real_collect(pairs, **kwargs)

    monkeypatch.setattr(ml_training, "train_projection", spy_train)
    monkeypatch.setattr(disc_service, "collect", spy_collect)
    models = {}
    for folds in (0, 3):
        seen.clear()
        collected.clear()
        config = TrainConfig(
            dim=16, epochs=3, batch_size=64, seed=0, calibration_share=0.25,
            discriminator_folds=folds,
        )  # fmt: skip
        model = training.train_projection(
            train_shops=["atelier", "boulevard"], before=CUTOFF, features="text+numeric",
            config=config, image_spec=None, text_spec="minilm",
        )  # fmt: skip
        model.refresh_from_db()
        assert model.status == ProjectionModel.Status.READY, model.error
        models[folds] = model
        if folds:
            # the final projection (first) and one per fold, each without its fold's products
            assert len(seen) == 1 + folds and len(collected) == folds
            for trained_on, queried in zip(seen[1:], collected, strict=True):
                assert not trained_on & queried
            assert set().union(*collected) == seen[0]  # every product is a query once
    held_out, oof = models[0], models[3]
    assert oof.discriminator["projection_folds"] == 3
    assert "out-of-fold over 3 projections" in oof.discriminator["note"]
    # the final projection trains on every offer, and every offer queries once
    assert oof.n_train_offers > held_out.n_train_offers
    assert oof.discriminator["n_queries"] == oof.n_train_offers
    # a quarter of 60 products held out is too few pairs here; out-of-fold uses all of them
    assert oof.discriminator_path and oof.discriminator[
        "n_queries"
    ] > 2 * held_out.discriminator.get("n_queries", 0)
    assert oof.calibration and "3 folds" in oof.calibration["setup"]["retrieval"]
