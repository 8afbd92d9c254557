"""The benchmark of the paper's Table 3: import, encode, train per config, match per query shop.

`run_benchmark` works on the CURRENT database; the `benchmark` command runs it in a child
process whose DATABASE_URL / MEDIA_ROOT point into a temporary folder (an isolated database).

Config names: see :mod:`matching.benchmark_configs` (e.g. ``proj:image+text+numeric@bs=1024``).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence

from matching import selectors
from matching.benchmark_configs import default_configs, parse_config
from matching.ml.encoders import DEFAULT_IMAGE_ENCODER, DEFAULT_TEXT_ENCODER
from matching.ml.evaluation import format_pct
from matching.ml.match_config import MatchConfig
from matching.ml.training import TrainConfig
from matching.models import OfferImage
from matching.services import encoding, training
from matching.services import matching as matching_service

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
    if not has_images:
        parsed = [c.without_images() for c in parsed]
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
    trained: dict[str, object] = {}
    trained_names: dict[str, str] = {}  # configs that differ only in match fields share a model
    for config in parsed:
        model = None
        train_config = config.train_config(base_config)
        key = repr((config.kind, config.features, train_config.to_dict()))
        if config.kind != "raw" and key in trained:
            model = trained[key]
            models[config.name] = {**models[trained_names[key]], "shared_with": trained_names[key]}
        elif config.kind != "raw":
            t = time.perf_counter()
            model = training.train_projection(
                train_shops=train_shops,
                before=cutoff,
                features=config.features,
                config=train_config,
                image_spec=image_spec,
                text_spec=text_spec,
                name=f"benchmark {config.name}",
            )
            timings[f"train {config.name}"] = time.perf_counter() - t
            trained[key], trained_names[key] = model, config.name
            models[config.name] = {
                "id": model.pk,
                "config": model.config,
                "metrics": model.metrics,
                "n_train_offers": model.n_train_offers,
                "n_train_products": model.n_train_products,
                "discriminator": model.discriminator,
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
                config=config.match_config(match_config),
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
                "discriminator": m.get("discriminator", False),
                "search_seconds": (m.get("seconds") or {}).get("search"),
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
