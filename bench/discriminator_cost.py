"""What the pair discriminator costs: training time split and seconds per 1,000 queries at match.

    PYTHONPATH=. nice -n 10 .venv/bin/python bench/discriminator_cost.py \\
        ../shared/data/bench/walmart-amazon --train-shop walmart --train-shop amazon \\
        --index-shop amazon --query-shop walmart --cutoff 2021-01-01 \\
        --embedding-cache /work/cache/emb [--workdir DIR] [--repeats 3] [--scale 20000]

The code paths of ``manage.py benchmark`` (matching/benchmark.py), in an isolated SQLite
database under ``--workdir`` (kept: a second call reuses the imported catalogue, the
embeddings and the trained model; ``--retrain`` trains again): import the catalogue, encode
(``--embedding-cache``), train the ``default`` config once (``train_projection`` with
``TrainConfig()``, its out-of-fold stacked discriminator included), then ``match`` every query
shop with the default ``MatchConfig()`` and with ``discriminator=False``, ``--repeats`` times
each (the fastest repeat counts). Per 1,000 queries: the whole match, its load + project and
its search, and the discriminator's stages (``MatchRun.metrics["discriminator_seconds"]``:
TF-IDF fit (shared with the search), shortlist search, TF-IDF pair dots, projected / raw
dots, shortlist columns incl. reciprocity, brand scores, per-offer columns, title pair
features, predict, list features, stacked predict, rank / one-to-one).

``--scale N``: the match service's discriminator search (``services.discriminator.search``,
what ``match`` calls) and plain search (``services.matching.search_offers``) on the first
query shop replicated to N queries (each copy's vectors and raw embeddings moved by Gaussian
noise of ``--noise`` and re-normalised, same titles), to show the cost per 1,000 queries is
flat in the number of queries. Prints its command line, the load average before and after,
and every figure.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODEL_NAME = "discriminator_cost default"


def _setup(workdir: Path) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ.pop("REDIS_URL", None)
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ["MEDIA_ROOT"] = str(workdir / "media")
    os.environ["FASHIONID_VAR_DIR"] = str(workdir)
    os.environ.setdefault("SECRET_KEY", "bench")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fashionid_app.settings")
    import django

    django.setup()


def _load() -> str:
    return " / ".join(f"{v:.2f}" for v in os.getloadavg())


def _per_k(seconds: float, n: int) -> float:
    return 1000.0 * seconds / max(n, 1)


def prepare(args) -> tuple[object, object, object, dict]:
    """Import + encode (skipped when already done), the default config, the trained model."""
    from django.core.management import call_command

    from matching.benchmark_configs import parse_config
    from matching.catalogue_import import import_catalogue
    from matching.ml.encoders import DEFAULT_IMAGE_ENCODER, DEFAULT_TEXT_ENCODER
    from matching.ml.training import TrainConfig
    from matching.models import Offer, OfferImage, ProjectionModel
    from matching.services import encoding, training

    call_command("migrate", verbosity=0)
    if not Offer.objects.exists():
        batch = import_catalogue(directory=str(Path(args.catalogue).resolve()))
        print(f"imported {batch.n_imported} offers in {batch.seconds:.1f} s")
    has_images = OfferImage.objects.exists()
    image_spec = DEFAULT_IMAGE_ENCODER if has_images else None
    specs = {"image_spec": image_spec, "text_spec": DEFAULT_TEXT_ENCODER}
    cache = str(Path(args.embedding_cache).resolve()) if args.embedding_cache else None
    for s in encoding.encode_offers(**specs, cache_dir=cache):
        print(f"encoded {s.encoder.spec}: {s.n_encoded} computed, {s.n_from_cache} from cache")
    config = parse_config("default")
    if not has_images:
        config = config.without_images()
    model = (
        ProjectionModel.objects.filter(name=MODEL_NAME, status=ProjectionModel.Status.READY)
        .order_by("-pk")
        .first()
    )
    train: dict = {"reused": model is not None and not args.retrain}
    if model is None or args.retrain:
        started = time.perf_counter()
        model = training.train_projection(
            train_shops=args.train_shop,
            before=dt_date(args.cutoff),
            features=config.features,
            config=config.train_config(TrainConfig()),
            name=MODEL_NAME,
            **specs,
        )
        train["seconds"] = time.perf_counter() - started
        train["load"] = _load()
    train["model"] = model
    return config, model, specs, train


def dt_date(value: str):
    import datetime as dt

    return dt.date.fromisoformat(value)


def time_matches(args, config, model, specs) -> list[dict]:
    from matching.ml.match_config import MatchConfig
    from matching.services import matching as matching_service

    rows = []
    for shop in args.query_shop:
        for disc in (True, False):
            match_config = replace(config.match_config(MatchConfig()), discriminator=disc)
            best = None
            for _ in range(args.repeats):
                run = matching_service.match(
                    query_shop=shop,
                    index_shop=args.index_shop,
                    since=dt_date(args.cutoff),
                    model=model,
                    features=config.features,
                    config=match_config,
                    plot=False,
                    **specs,
                )
                m = run.metrics
                if best is None or m["seconds"]["total"] < best["seconds"]["total"]:
                    best = {**m, "n_queries": run.n_queries, "n_index": run.n_index}
            rows.append({"shop": shop, "discriminator": disc, "metrics": best})
    return rows


def _sides(args, config, model, shop: str):
    """The match service's Sides of one query shop and the index (as `_run_match` builds them
    with the discriminator on)."""
    from django.conf import settings

    from matching import selectors
    from matching.ml import features as ml_features
    from matching.ml import projection as ml_projection
    from matching.services import discriminator as discriminator_service
    from matching.services import features as feature_rows

    feats = ml_features.parse_features(model.features)
    since = dt_date(args.cutoff)
    q_shop, i_shop = selectors.shops_by_names([shop, args.index_shop])
    queries = feature_rows.offer_rows(selectors.offers_for(shops=[q_shop], since=since))
    index = feature_rows.offer_rows(
        selectors.offers_for(shops=[i_shop], since=since).order_by("brand_normalised", "pk")
    )
    head, _ = ml_projection.load_projection(Path(settings.MEDIA_ROOT) / model.weights_path)
    scaler = None
    if "numeric" in feats:
        scaler = ml_features.NumericScaler.from_dict(model.numeric_scaler)
    encoders = {"image_encoder": model.image_encoder, "text_encoder": model.text_encoder}
    out = []
    for offers in (queries, index):
        blocks = feature_rows.load_blocks(offers, feats, **encoders)
        vectors = feature_rows.project(blocks, features=feats, scaler=scaler, head=head)
        out.append(discriminator_service.side(offers, blocks, vectors))
    return out


def _noisy(x: np.ndarray | None, reps: np.ndarray, noise: float, rng) -> np.ndarray | None:
    if x is None:
        return None
    y = np.asarray(x, dtype=np.float32)[reps].copy()
    nonzero = np.abs(y).sum(axis=1) > 0  # an offer without an image stays without one
    y[nonzero] += noise * rng.standard_normal((int(nonzero.sum()), y.shape[1])).astype(y.dtype)
    norms = np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
    y[nonzero] /= norms[nonzero]
    return y


def replicate(side, n: int, noise: float, seed: int = 0):
    """``side`` grown to ``n`` offers: copies with noisy vectors / raw embeddings."""
    from matching.ml.pair_features import Side

    rng = np.random.default_rng(seed)
    reps = np.arange(n) % len(side.vectors)
    base = side.subset(reps)
    return Side(
        vectors=_noisy(side.vectors, reps, noise, rng),
        texts=base.texts,
        brand_keys=base.brand_keys,
        prices=base.prices,
        sizes=base.sizes,
        categories=base.categories,
        image=_noisy(side.image, reps, noise, rng),
        text=_noisy(side.text, reps, noise, rng),
        n_images=base.n_images,
    )


def scale_test(args, config, model) -> list[dict]:
    from matching.ml.match_config import MatchConfig
    from matching.services import discriminator as discriminator_service
    from matching.services import matching as matching_service

    query, index = _sides(args, config, model, args.query_shop[0])
    disc = discriminator_service.load(model.discriminator_path)
    match_config = config.match_config(MatchConfig()).resolved(config.features)
    rows = []
    for n in (len(query.vectors), args.scale):
        q = query if n == len(query.vectors) else replicate(query, n, args.noise)
        best: dict = {}
        for _ in range(args.repeats):  # the fastest of --repeats, each side on its own
            stages: dict[str, float] = {}
            t = time.perf_counter()
            discriminator_service.search(disc, match_config, q, index, timings=stages)
            with_disc = time.perf_counter() - t
            t = time.perf_counter()
            matching_service.search_offers(
                match_config, q.vectors, index.vectors, list(q.brand_keys),
                list(index.brand_keys), list(q.texts), list(index.texts),
            )  # fmt: skip
            without = time.perf_counter() - t
            if not best or with_disc < best["with"]:
                best.update({"with": with_disc, "stages": stages})
            best["without"] = min(best.get("without", without), without)
        rows.append({"n": n, **best, "load": _load()})
    return rows


STAGE_ORDER = (
    "shortlist", "tfidf", "dots", "shortlist_columns", "brand", "offer_columns", "title",
    "predict", "list_features", "predict_stacked", "rank",
)  # fmt: skip


def _stage_line(stages: dict, n: int) -> str:
    keys = [k for k in STAGE_ORDER if k in stages] + sorted(set(stages) - set(STAGE_ORDER))
    return ", ".join(f"{k} {_per_k(stages[k], n):.3f}" for k in keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("catalogue")
    parser.add_argument("--train-shop", action="append", required=True)
    parser.add_argument("--index-shop", required=True)
    parser.add_argument("--query-shop", action="append", required=True)
    parser.add_argument("--cutoff", required=True)
    parser.add_argument("--embedding-cache")
    parser.add_argument("--workdir", help="kept between calls (default: under tempdir)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--retrain", action="store_true")
    parser.add_argument("--scale", type=int, default=0, help="replicate the first query shop to N")
    parser.add_argument("--noise", type=float, default=0.02)
    args = parser.parse_args()
    workdir = Path(
        args.workdir
        or Path(tempfile.gettempdir()) / f"discriminator-cost-{Path(args.catalogue).name}"
    )
    command = " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv])
    print(f"$ PYTHONPATH={os.environ.get('PYTHONPATH', '')} {command}")
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}, load average before: {_load()}")
    _setup(workdir)
    config, model, specs, train = prepare(args)
    info = model.discriminator or {}
    print(f"\nmodel #{model.pk} ({model.features}), discriminator: {info.get('note')}")
    if train["reused"]:
        print("training: reused a saved model (--retrain to time it)")
    else:
        print(f"training: {train['seconds']:.1f} s in all (load average after: {train['load']})")
    m = model.metrics or {}
    total = info.get("seconds_total")
    folds = info.get("seconds_fold_projections")
    feats = info.get("seconds_shortlists_and_features")
    print(
        f"  final projection {m.get('seconds_train', float('nan')):.1f} s; discriminator "
        f"{total if total is not None else float('nan'):.1f} s = fold projections "
        f"{folds if folds is not None else float('nan'):.1f} s + shortlists and pair features "
        f"{feats if feats is not None else float('nan'):.1f} s + fit (first, stacked and "
        f"out-of-fold classifiers) {(total or 0) - (folds or 0) - (feats or 0):.1f} s "
        f"(of it seconds_fit {info.get('seconds_fit', float('nan')):.1f} s); "
        f"{info.get('n_pairs')} pairs"
    )

    print(f"\nmatch, fastest of {args.repeats}, seconds per 1,000 queries:")
    rows = time_matches(args, config, model, specs)
    by = {(r["shop"], r["discriminator"]): r["metrics"] for r in rows}
    for shop in args.query_shop:
        on, off = by[(shop, True)], by[(shop, False)]
        n = on["n_queries"]
        s_on, s_off = on["seconds"], off["seconds"]
        added = (s_on["load_and_project"] + s_on["search"]) - (
            s_off["load_and_project"] + s_off["search"]
        )
        print(
            f"{shop}: {n} queries x {on['n_index']} index offers; AUCPR {on.get('AUCPR'):.4f} "
            f"with, {off.get('AUCPR'):.4f} without"
        )
        for label, s in (("with discriminator", s_on), ("without", s_off)):
            print(
                f"  {label:<19} total {_per_k(s['total'], n):.3f}  load+project "
                f"{_per_k(s['load_and_project'], n):.3f}  search {_per_k(s['search'], n):.3f}"
            )
        print(f"  added by the discriminator (load+project+search): {_per_k(added, n):.3f}")
        print(f"  its stages: {_stage_line(on.get('discriminator_seconds', {}), n)}")
    print(f"load average after matching: {_load()}")

    if args.scale:
        print(
            f"\nscale: {args.query_shop[0]} replicated (noise {args.noise}), the search alone, "
            f"fastest of {args.repeats}, per 1,000 queries"
        )
        for r in scale_test(args, config, model):
            print(
                f"  {r['n']:>7} queries: with {_per_k(r['with'], r['n']):.3f}  without "
                f"{_per_k(r['without'], r['n']):.3f}  added "
                f"{_per_k(r['with'] - r['without'], r['n']):.3f}  (load {r['load']})"
            )
            print(f"           stages: {_stage_line(r['stages'], r['n'])}")
    print(f"\nload average after: {_load()}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
