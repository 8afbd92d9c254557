"""The benchmark of the paper's Table 3: import, encode, train per config, match per query shop.

`run_benchmark` works on the CURRENT database; the `benchmark` command runs it in a child
process whose DATABASE_URL / MEDIA_ROOT point into a temporary folder (an isolated database).

Config names: ``<kind>:<features>[@key=value,...]`` with kind ``raw`` (no training), ``proj``
(linear projection) or ``mlp`` (one hidden layer of 256), features joined by ``+`` from
image, text, numeric, and optional training overrides, e.g. ``proj:image+text+numeric@bs=1024``
(keys: bs, lone, dim, hidden, epochs, lr, temp, seed, patience).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from matching import selectors
from matching.ml.encoders import DEFAULT_IMAGE_ENCODER, DEFAULT_TEXT_ENCODER
from matching.ml.evaluation import format_pct
from matching.ml.features import parse_features
from matching.ml.match_config import MatchConfig
from matching.ml.training import TrainConfig
from matching.models import OfferImage
from matching.services import encoding, training
from matching.services import matching as matching_service

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
}


@dataclass(frozen=True)
class BenchConfig:
    name: str
    kind: str
    features: tuple[str, ...]
    overrides: dict = field(default_factory=dict, hash=False)

    def train_config(self, base: TrainConfig) -> TrainConfig:
        config = replace(base, hidden=MLP_HIDDEN) if self.kind == "mlp" else base
        return replace(config, **self.overrides)


def split_configs(value: str) -> list[str]:
    """ "raw:text,proj:text@bs=64,lone=0.5" -> ["raw:text", "proj:text@bs=64,lone=0.5"]."""
    return [c for c in re.split(r",(?=\s*(?:raw|proj|mlp):)", value) if c.strip()]


def parse_config(name: str) -> BenchConfig:
    name = name.strip()
    head, _, tail = name.partition("@")
    kind, _, feats = head.partition(":")
    if kind not in KINDS or not feats:
        raise ValueError(f"config {name!r}: expected <raw|proj|mlp>:<features>[@key=value,...]")
    features = parse_features(feats)
    overrides = {}
    for item in filter(None, tail.split(",")):
        key, _, value = item.partition("=")
        if key not in OVERRIDE_KEYS or not value:
            raise ValueError(
                f"config {name!r}: unknown override {item!r} ({', '.join(OVERRIDE_KEYS)})"
            )
        attr, cast = OVERRIDE_KEYS[key]
        overrides[attr] = cast(value)
    if kind == "raw" and overrides:
        raise ValueError(f"config {name!r}: raw configs are not trained")
    return BenchConfig(name=name, kind=kind, features=features, overrides=overrides)


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


Log = Callable[[str], None]


def run_benchmark(
    *,
    train_shops: Sequence[str],
    index_shop: str,
    query_shops: Sequence[str],
    cutoff: dt.date,
    configs: Sequence[str] | None = None,
    base_config: TrainConfig | None = None,
    image_spec: str | None = DEFAULT_IMAGE_ENCODER,
    text_spec: str | None = DEFAULT_TEXT_ENCODER,
    match_config: MatchConfig | None = None,
    cache_dir: str | None = None,
    log: Log = print,
    progress: encoding.Progress | None = None,
) -> dict:
    """Encode, then train and match every config on the catalogue already in the database.

    Returns ``{"results": {config: {query_shop: metrics}}, "models": {config: {...}},
    "timings": {...}, "configs": [...]}``; metrics values are fractions in 0..1.
    """
    base_config = base_config or TrainConfig()
    match_config = match_config or MatchConfig()
    has_images = OfferImage.objects.exists()
    if not has_images:
        image_spec = None
    names = list(configs) if configs else default_configs(has_images=has_images)
    parsed = [parse_config(n) for n in names]
    if image_spec is None and any("image" in c.features for c in parsed):
        raise ValueError("image configs need images and an image encoder")
    timings: dict[str, float] = {}

    started = time.perf_counter()
    stats = encoding.encode_offers(
        image_spec=image_spec, text_spec=text_spec, cache_dir=cache_dir, progress=progress
    )
    timings["encode"] = time.perf_counter() - started
    for s in stats:
        log(
            f"encoded {s.encoder.kind} {s.encoder.spec}: {s.n_encoded} offers computed, "
            f"{s.n_from_cache} from cache, {s.n_offers - s.n_pending} already stored "
            f"({s.seconds:.1f} s)"
        )

    results: dict[str, dict[str, dict]] = {}
    models: dict[str, dict] = {}
    for config in parsed:
        model = None
        if config.kind != "raw":
            t = time.perf_counter()
            model = training.train_projection(
                train_shops=train_shops,
                before=cutoff,
                features=config.features,
                config=config.train_config(base_config),
                image_spec=image_spec,
                text_spec=text_spec,
                name=f"benchmark {config.name}",
            )
            timings[f"train {config.name}"] = time.perf_counter() - t
            models[config.name] = {
                "id": model.pk,
                "config": model.config,
                "metrics": model.metrics,
                "n_train_offers": model.n_train_offers,
                "n_train_products": model.n_train_products,
            }
            log(
                f"trained {config.name}: model #{model.pk}, val R@1 {model.metrics['val_R@1']}, "
                f"best epoch {model.metrics['best_epoch']}/{model.metrics['epochs_run']}, "
                f"{model.metrics['seconds_per_epoch']:.2f} s/epoch"
            )
        results[config.name] = {}
        for query_shop in query_shops:
            t = time.perf_counter()
            run = matching_service.match(
                query_shop=query_shop,
                index_shop=index_shop,
                since=cutoff,
                model=model if model is not None else "raw",
                features=config.features,
                config=match_config,
                image_spec=image_spec,
                text_spec=text_spec,
            )
            timings[f"match {config.name} {query_shop}"] = time.perf_counter() - t
            m = run.metrics
            results[config.name][query_shop] = {
                "R@1": m.get("R@1"),
                "R@3": m.get("R@3"),
                "AUCPR": m.get("AUCPR"),
                "best_F1": m.get("best_F1"),
                "blocking_recall": m.get("blocking_recall"),
                "comparisons_share": m.get("comparisons_share"),
                "n_queries": run.n_queries,
                "n_with_match": m.get("n_queries_with_match"),
                "n_index": run.n_index,
                "run": run.pk,
            }
            log(
                f"matched {config.name} {query_shop}: AUCPR {format_pct(m.get('AUCPR'))} "
                f"R@1 {format_pct(m.get('R@1'))} R@3 {format_pct(m.get('R@3'))}"
            )
    return {
        "configs": names,
        "results": results,
        "models": models,
        "timings": timings,
        "shops": {
            "train": list(train_shops),
            "index": index_shop,
            "queries": list(query_shops),
            "cutoff": cutoff.isoformat(),
            "n_offers": selectors.offers_for().count(),
        },
        "encoders": {"image": image_spec, "text": text_spec},
        "match_config": match_config.to_dict(),
        # read by bench/benchmark_tables.py (and written by earlier reports)
        "brand_threshold": match_config.brand_threshold,
        "scoring": {
            "one_to_one": match_config.one_to_one,
            "text_weight": match_config.text_weight,
            "rescore": match_config.rescore,
        },
    }


def format_table(report: dict, *, markdown: bool = False) -> str:
    """The paper's Table 3 layout: one row per config, AUCPR / R@1 / R@3 per query shop (%)."""
    queries = report["shops"]["queries"]
    header = ["config"]
    for q in queries:
        header += [f"{q} AUCPR", f"{q} R@1", f"{q} R@3", f"{q} F1"]
    rows = []
    for name in report["configs"]:
        row = [name]
        for q in queries:
            m = report["results"][name][q]
            row += [
                format_pct(m["AUCPR"]),
                format_pct(m["R@1"]),
                format_pct(m["R@3"]),
                format_pct(m["best_F1"]),
            ]
        rows.append(row)
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join(fmt.format(*r) for r in [header, *rows])


def json_summary(report: dict) -> dict:
    """``{config: {query_shop: {"R@1", "R@3", "AUCPR"}}}`` with fractions in 0..1."""
    return {
        name: {q: {key: m[key] for key in ("R@1", "R@3", "AUCPR")} for q, m in per_query.items()}
        for name, per_query in report["results"].items()
    }
