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
    runs = {}
    for flag in (True, False):
        run = matching_service.match(
            query_shop="boulevard", index_shop="atelier", since=CUTOFF, model=model,
            config=MatchConfig(discriminator=flag), image_spec=None, text_spec="minilm",
        )  # fmt: skip
        run.refresh_from_db()
        assert run.metrics["discriminator"] is flag and run.config["discriminator"] is flag
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
