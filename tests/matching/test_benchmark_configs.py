"""The benchmark's config language (also used by bench/quality_experiments.py)."""

from dataclasses import fields

import pytest

from matching import benchmark_configs as bc
from matching.ml.match_config import MatchConfig
from matching.ml.training import TrainConfig


def test_config_names():
    assert bc.split_configs("raw:text,proj:text@bs=64,lone=0.5,mlp:text") == [
        "raw:text",
        "proj:text@bs=64,lone=0.5",
        "mlp:text",
    ]
    c = bc.parse_config("mlp:text+image@bs=128,lone=0.5")
    assert c.kind == "mlp" and c.features == ("image", "text")
    tc = c.train_config(TrainConfig())
    assert (tc.hidden, tc.batch_size, tc.lone_share) == (256, 128, 0.5)
    assert c.match_config(MatchConfig()) == MatchConfig()
    assert bc.default_configs(has_images=False) == [
        "raw:text", "raw:text+numeric", "proj:text", "proj:text+numeric", "mlp:text+numeric",
    ]  # fmt: skip
    for bad in ("raw:colour", "knn:text", "raw:text@bs=3", "proj:text@foo=1"):
        with pytest.raises(ValueError):
            bc.parse_config(bad)


def test_match_overrides_after_hash():
    names = bc.split_configs("proj:text@bs=64#one_to_one=false,k=5,raw:text#brand_threshold=none")
    assert names == ["proj:text@bs=64#one_to_one=false,k=5", "raw:text#brand_threshold=none"]
    first, second = (bc.parse_config(n) for n in names)
    assert first.overrides == {"batch_size": 64}
    assert first.match_config(MatchConfig(rescore="csls")) == MatchConfig(
        rescore="csls", one_to_one=False, k=5
    )
    assert second.match_config(MatchConfig()).brand_threshold is None
    for bad in ("raw:text#colour=1", "raw:text#k=0", "raw:text#one_to_one=maybe"):
        with pytest.raises(ValueError):
            bc.parse_config(bad)


def test_every_match_parameter_can_be_overridden():
    assert set(bc.MATCH_OVERRIDE_CASTS) == {f.name for f in fields(MatchConfig)}


def test_default_config_is_what_train_and_match_do_by_default():
    from matching.ml.training import TrainConfig

    config = bc.parse_config("default")
    assert config.is_default and config.kind == "proj"
    assert config.features == bc.DEFAULT_FEATURES
    custom = TrainConfig(epochs=3, dim=8)
    assert config.train_config(custom) == TrainConfig()  # not the benchmark's flags
    assert config.match_config(MatchConfig(k=7)) == MatchConfig()
    assert config.without_images().features == ("text", "numeric")
    off = bc.parse_config("default#discriminator=false")
    assert off.match_config(MatchConfig()).discriminator is False
    assert bc.parse_config("proj:text").without_images().features == ("text",)
    assert bc.split_configs("raw:text,default,default#discriminator=false,proj:text@bs=4") == [
        "raw:text",
        "default",
        "default#discriminator=false",
        "proj:text@bs=4",
    ]
    assert bc.parse_config("proj:text@cal=0.3,drop=0.1").overrides == {
        "calibration_share": 0.3,
        "input_dropout": 0.1,
    }


def test_default_takes_training_overrides_for_ablations():
    from matching.ml.training import TrainConfig

    config = bc.parse_config("default@dfolds=0,dstack=false#discriminator_rerank=false")
    assert config.is_default and config.features == bc.DEFAULT_FEATURES
    assert config.train_config(TrainConfig(epochs=3)) == TrainConfig(
        discriminator_folds=0, discriminator_stacked=False
    )
    assert config.match_config(MatchConfig()).discriminator_rerank is False
    assert bc.split_configs("default,default@dfolds=0,raw:text") == [
        "default",
        "default@dfolds=0",
        "raw:text",
    ]
    with pytest.raises(ValueError, match="unknown override"):
        bc.parse_config("default@bogus=1")
    with pytest.raises(ValueError, match="discriminator_folds"):
        bc.parse_config("default@dfolds=1")
