"""The config language of the benchmark and the experiment scripts (no Django here).

``<kind>:<features>[@key=value,...][#key=value,...]``

* kind: ``raw`` (no training), ``proj`` (linear projection) or ``mlp`` (one hidden layer of
  256);
* features: joined by ``+`` from image, text, numeric;
* ``@``: training overrides (keys :data:`OVERRIDE_KEYS`: bs, lone, dim, hidden, epochs, lr, temp,
  seed, patience, cal, drop, dfolds, dstack), e.g. ``proj:image+text+numeric@bs=1024,lr=0.003``;
* ``#``: match overrides, by :class:`~matching.ml.match_config.MatchConfig` field name, e.g.
  ``raw:text#one_to_one=false,text_weight=0``.

``default`` is what ``train_projection`` + ``match`` do with their defaults: a linear
projection of :data:`DEFAULT_FEATURES` (image dropped when the catalogue has no images) trained
with ``TrainConfig()`` (not the benchmark's training flags) and matched with ``MatchConfig()``
(the model's pair discriminator included); ``default#key=value`` overrides match fields,
``default@key=value`` training fields (an ablation of one default, e.g. ``default@dfolds=0``).

Several configs are separated by commas (``split_configs``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from matching.ml.features import parse_features
from matching.ml.match_config import MatchConfig
from matching.ml.training import TrainConfig

KINDS = ("raw", "proj", "mlp")
MLP_HIDDEN = 256
OVERRIDE_KEYS = {
    "bs": ("batch_size", int),
    "lone": ("lone_share", float),
    "dim": ("dim", int),
    "hidden": ("hidden", int),
    "epochs": ("epochs", int),
    "lr": ("lr", float),
    "temp": ("temperature", float),
    "seed": ("seed", int),
    "patience": ("patience", int),
    "cal": ("calibration_share", float),
    "drop": ("input_dropout", float),
    "dfolds": ("discriminator_folds", int),
    "dstack": ("discriminator_stacked", lambda value: _flag(value)),
}
DEFAULT = "default"
#: The features of ``train_projection`` without --features.
DEFAULT_FEATURES = ("image", "text", "numeric")


def _flag(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"true", "yes", "1", "on"}:
        return True
    if lowered in {"false", "no", "0", "off"}:
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _optional_float(value: str) -> float | None:
    return None if value.strip().lower() in {"none", "off"} else float(value)


#: How each MatchConfig field is read from a ``#key=value`` override.
MATCH_OVERRIDE_CASTS: dict[str, Callable[[str], object]] = {
    "k": int,
    "brand_threshold": _optional_float,
    "index_type": str,
    "one_to_one": _flag,
    "text_weight": _optional_float,
    "rescore": str,
    "shortlist": int,
    "csls_k": int,
    "unassigned_penalty": float,
    "discriminator": _flag,
    "discriminator_rerank": _flag,
    "unbranded_index": str,
    "ivf_min_comparisons": int,
    "ivf_nprobe": int,
}


@dataclass(frozen=True)
class BenchConfig:
    name: str
    kind: str
    features: tuple[str, ...]
    overrides: dict = field(default_factory=dict, hash=False)
    match_overrides: dict = field(default_factory=dict, hash=False)
    is_default: bool = False

    def train_config(self, base: TrainConfig) -> TrainConfig:
        if self.is_default:
            base = TrainConfig()
        config = replace(base, hidden=MLP_HIDDEN) if self.kind == "mlp" else base
        return replace(config, **self.overrides)

    def match_config(self, base: MatchConfig) -> MatchConfig:
        if self.is_default:
            base = MatchConfig()
        return replace(base, **self.match_overrides)

    def without_images(self) -> BenchConfig:
        """This config on a text-only catalogue (only ``default`` may drop its images)."""
        if not self.is_default or "image" not in self.features:
            return self
        return replace(self, features=tuple(f for f in self.features if f != "image"))


def split_configs(value: str) -> list[str]:
    """ "raw:text,proj:text@bs=64,lone=0.5" -> ["raw:text", "proj:text@bs=64,lone=0.5"]."""
    return [c for c in re.split(r",(?=\s*(?:raw:|proj:|mlp:|default\b))", value) if c.strip()]


def _pairs(name: str, text: str, keys) -> list[tuple[str, str]]:
    out = []
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        if key not in keys or not value:
            raise ValueError(f"config {name!r}: unknown override {item!r} ({', '.join(keys)})")
        out.append((key, value))
    return out


def parse_config(name: str) -> BenchConfig:
    name = name.strip()
    head, _, match_tail = name.partition("#")
    head, _, train_tail = head.partition("@")
    if head == DEFAULT:
        match_overrides = {
            key: MATCH_OVERRIDE_CASTS[key](value)
            for key, value in _pairs(name, match_tail, MATCH_OVERRIDE_CASTS)
        }
        MatchConfig(**match_overrides)
        overrides = {
            OVERRIDE_KEYS[key][0]: OVERRIDE_KEYS[key][1](value)
            for key, value in _pairs(name, train_tail, OVERRIDE_KEYS)
        }
        TrainConfig(**overrides)
        return BenchConfig(
            name=name,
            kind="proj",
            features=DEFAULT_FEATURES,
            overrides=overrides,
            match_overrides=match_overrides,
            is_default=True,
        )
    kind, _, feats = head.partition(":")
    if kind not in KINDS or not feats:
        raise ValueError(
            f"config {name!r}: expected <raw|proj|mlp>:<features>[@key=value,...][#key=value,...]"
        )
    features = parse_features(feats)
    overrides = {}
    for key, value in _pairs(name, train_tail, OVERRIDE_KEYS):
        attr, cast = OVERRIDE_KEYS[key]
        overrides[attr] = cast(value)
    if kind == "raw" and overrides:
        raise ValueError(f"config {name!r}: raw configs are not trained")
    match_overrides = {
        key: MATCH_OVERRIDE_CASTS[key](value)
        for key, value in _pairs(name, match_tail, MATCH_OVERRIDE_CASTS)
    }
    MatchConfig(**match_overrides)  # validates the values
    return BenchConfig(
        name=name,
        kind=kind,
        features=features,
        overrides=overrides,
        match_overrides=match_overrides,
    )


def default_configs(*, has_images: bool) -> list[str]:
    """Every config the catalogue supports (no image configs for a text-only catalogue)."""
    if has_images:
        raw = ["image", "text", "image+text", "image+text+numeric"]
        proj = ["image", "text", "image+text", "image+text+numeric"]
        mlp = ["image+text+numeric"]
    else:
        raw = ["text", "text+numeric"]
        proj = ["text", "text+numeric"]
        mlp = ["text+numeric"]
    return [f"raw:{f}" for f in raw] + [f"proj:{f}" for f in proj] + [f"mlp:{f}" for f in mlp]


def ablation_configs(
    *,
    features: str,
    batch_sizes: Sequence[int] = (),
    lone_shares: Sequence[float] = (),
    dims: Sequence[int] = (),
) -> list[str]:
    """The paper's sweeps, over the linear projection of ``features``."""
    out = [f"proj:{features}@bs={b}" for b in batch_sizes]
    out += [f"proj:{features}@lone={s:g}" for s in lone_shares]
    out += [f"proj:{features}@dim={d}" for d in dims]
    return out
