"""End to end at the paper's scale: match, route and export a 442k-index x 90k-query run.

    DATABASE_URL=postgres://postgres@127.0.0.1:55434/postgres \\
        .venv/bin/python bench/match_scale.py --index 442000 --queries 90000

Setup (not timed as a stage): two shops in PostgreSQL written with COPY, a long-tailed brand
distribution (``--brands`` names, Zipf sizes with exponent ``--zipf``, ``--unbranded`` share
without a brand), ground-truth products (``--in-index`` of the queries have their product in
the index) and synthetic "image" and "text" embeddings written straight into the embedding
store (float16 chunk files + OfferEmbedding rows; no encoder runs): an offer's vector is its
brand direction + its product direction + per-offer noise, so matches are found but not
trivially.

Then each stage runs in its own child process (so its peak RSS is its own): ``match`` (the
real matching service: blocking, FAISS, metrics, PR plot, candidates stored), ``route``
(validation route_run with suggested thresholds), ``export`` (write_export, as the
export_matches command). Prints seconds and peak RSS per stage, ``uptime`` before and after,
and the command line. ``--shops Q I`` reruns the stages on shops an earlier run made;
``--synthetic-run`` routes and exports a demo synthetic run of ``--queries`` queries x 3
candidates (route and export at full query scale without the match stage). ``--reuse-run RUN``
times route and export of an existing run (a first route again: on a ``TEMPLATE`` copy).
``--projection DIM`` matches with a random linear head to DIM dims (bench/_random_head.py).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
IMAGE_SPEC = "synthetic:scale-image"
TEXT_SPEC = "synthetic:scale-text"
SYLLABLES = tuple("ka lo ri ve na to mi sa du re lu ne pa zo fi ga bo te si mo ra ve ni co".split())  # noqa: SIM905
EMBEDDING_COLUMNS = ["offer_id", "encoder_id", "chunk_id", "row", "content_hash", "has_content"]
WORDS = ("dress", "shirt", "jeans", "sneakers", "jacket", "skirt", "coat", "top", "boots")


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fashionid_app.settings")
    import django

    django.setup()


def peak_rss_mb() -> float:
    """This process's peak resident memory: VmHWM of its own address space (ru_maxrss would
    carry the parent's peak over fork + exec on Linux)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def brand_names(n: int, rng: np.random.Generator) -> list[str]:
    """n distinct brand names (2-4 syllables, a fifth of them with a second word)."""
    names: set[str] = set()
    while len(names) < n:
        word = "".join(rng.choice(SYLLABLES, size=rng.integers(2, 5))).capitalize()
        if rng.random() < 0.2:
            word += " " + rng.choice(["Sport", "Studio", "Kids", "Denim", "Paris", "Basics"])
        names.add(word)
    return sorted(names)


def _copy(cursor, table: str, columns: list[str], rows) -> None:
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def setup(args) -> dict:
    """Shops, offers and embeddings; returns {"query_shop", "index_shop", "seconds", ...}."""
    from django.db import connection, transaction

    from matching import embedding_store as store
    from matching.ml.brands import brand_key
    from matching.models import EmbeddingChunk, Offer, OfferEmbedding, Shop

    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    tag = f"{args.index}x{args.queries}-s{args.seed}-{int(time.time())}"
    names = brand_names(args.brands, rng)
    weights = 1.0 / np.arange(1, args.brands + 1) ** args.zipf
    weights /= weights.sum()
    # products: every index offer is its own product; `in_index` of the queries copy one
    n_idx, n_q = args.index, args.queries
    idx_brand = rng.choice(args.brands, size=n_idx, p=weights)
    idx_true = idx_brand.copy()  # the product's brand, whatever the seller filled in
    idx_brand[rng.random(n_idx) < args.unbranded] = -1
    has_match = rng.random(n_q) < args.in_index
    source = rng.integers(0, n_idx, size=n_q)  # the index offer whose product a query shares
    q_brand = np.where(has_match, idx_brand[source], rng.choice(args.brands, size=n_q, p=weights))
    q_true = np.where(has_match, idx_true[source], q_brand)
    q_brand[(~has_match) & (rng.random(n_q) < args.unbranded)] = -1
    # a matched query loses its brand as often as any offer
    q_brand[has_match & (rng.random(n_q) < args.unbranded / 2)] = -1

    with transaction.atomic():
        qshop = Shop.objects.create(name=f"scale-query-{tag}", synthetic=True)
        ishop = Shop.objects.create(name=f"scale-index-{tag}", synthetic=True)
    cols = [
        "shop_id", "offer_id", "brand", "brand_normalised", "title", "text_normalised",
        "price", "currency", "sizes", "category", "product_id", "content_hash", "updated_at",
    ]  # fmt: skip
    key_of = {b: brand_key(names[b]) for b in range(args.brands)}

    def rows(shop_id: int, prefix: str, brands: np.ndarray, products: np.ndarray):
        for i, (b, p) in enumerate(zip(brands.tolist(), products.tolist(), strict=True)):
            brand = names[b] if b >= 0 else ""
            title = f"{brand} {WORDS[p % len(WORDS)]} style {p:07d}".strip()
            yield (
                shop_id, f"{prefix}{i}", brand, key_of[b] if b >= 0 else "", title,
                title.lower(), f"{10 + p % 190}.95", "EUR", '["S", "M", "L"]',
                f"cat{p % 12}", f"p{p}", f"{prefix}{i}-h", "2026-01-01 00:00:00+00",
            )  # fmt: skip

    q_products = np.where(has_match, source, n_idx + np.arange(n_q))
    with transaction.atomic(), connection.cursor() as cursor:
        table = Offer._meta.db_table
        _copy(cursor, table, cols, rows(ishop.pk, "i", idx_brand, np.arange(n_idx)))
        _copy(cursor, table, cols, rows(qshop.pk, "q", q_brand, q_products))
    t_offers = time.perf_counter() - t0

    # embeddings: brand direction + product direction + noise, per feature block
    t1 = time.perf_counter()
    idx_pks = np.asarray(
        Offer.objects.filter(shop=ishop).order_by("pk").values_list("pk", flat=True)
    )
    q_pks = np.asarray(Offer.objects.filter(shop=qshop).order_by("pk").values_list("pk", flat=True))
    encoders = {
        "image": store.get_or_create_encoder(
            kind="image", spec=IMAGE_SPEC, weights_checksum="synthetic", dim=args.image_dim
        ),
        "text": store.get_or_create_encoder(
            kind="text", spec=TEXT_SPEC, weights_checksum="synthetic", dim=args.text_dim
        ),
    }
    chunk_rows = 50_000
    hashes = {"i": [f"i{i}-h" for i in range(n_idx)], "q": [f"q{i}-h" for i in range(n_q)]}
    for kind, encoder in encoders.items():
        dim = encoder.dim
        brand_dirs = rng.standard_normal((args.brands + 1, dim)).astype(np.float32)
        product_dirs = rng.standard_normal((n_idx, dim), dtype=np.float32)
        # --photo-brand true: the photo carries the product's true brand (an empty brand field
        # does not change a picture); the title (text) loses it with the field
        photo = args.photo_brand == "true" and kind == "image"
        sides = (("i", idx_pks, idx_true if photo else idx_brand),
                 ("q", q_pks, q_true if photo else q_brand))  # fmt: skip
        for prefix, pks, brands in sides:
            for start in range(0, len(pks), chunk_rows):
                sl = slice(start, start + chunk_rows)
                if prefix == "i":
                    vec = product_dirs[sl].copy()
                else:
                    fresh = rng.standard_normal((len(pks[sl]), dim), dtype=np.float32)
                    vec = np.where(has_match[sl, None], product_dirs[source[sl]], fresh)
                    vec += args.noise * rng.standard_normal(vec.shape, dtype=np.float32)
                vec += 0.7 * brand_dirs[brands[sl]]
                relative = f"embeddings/{encoder.pk}/scale-{tag}-{kind}-{prefix}{start}.npy"
                store._write_npy_atomic(store.media_root() / relative, vec.astype(np.float16))
                with transaction.atomic(), connection.cursor() as cursor:
                    chunk = EmbeddingChunk.objects.create(
                        encoder=encoder, path=relative, n_rows=len(vec)
                    )
                    _copy(
                        cursor,
                        OfferEmbedding._meta.db_table,
                        [
                            "offer_id",
                            "encoder_id",
                            "chunk_id",
                            "row",
                            "content_hash",
                            "has_content",
                        ],
                        (
                            (pk, encoder.pk, chunk.pk, row, h, True)
                            for row, (pk, h) in enumerate(
                                zip(pks[sl].tolist(), hashes[prefix][sl], strict=True)
                            )
                        ),
                    )
        del product_dirs
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {
        "query_shop": qshop.name,
        "index_shop": ishop.name,
        "offers_seconds": round(t_offers, 1),
        "embeddings_seconds": round(time.perf_counter() - t1, 1),
        "n_brands_used": len(set(idx_brand.tolist()) - {-1}),
        "largest_brand": int(np.bincount(idx_brand[idx_brand >= 0]).max()),
        "unbranded_index": int((idx_brand < 0).sum()),
    }


def existing_facts(index_shop: str) -> dict:
    """largest_brand / unbranded_index of an index shop made earlier (for the summary)."""
    from django.db.models import Count

    from matching.models import Offer

    offers = Offer.objects.filter(shop__name=index_shop)
    sizes = offers.exclude(brand_normalised="").values("brand_normalised").annotate(n=Count("id"))
    return {
        "largest_brand": max((r["n"] for r in sizes), default=0),
        "unbranded_index": offers.filter(brand_normalised="").count(),
    }


# ------------------------------------------------------------------------------------------
# stages (each in its own process)


def stage_match(opts: dict) -> dict:
    from matching.ml.match_config import MatchConfig
    from matching.models import Candidate
    from matching.services.matching import match

    t = time.perf_counter()
    run = match(
        query_shop=opts["query_shop"],
        index_shop=opts["index_shop"],
        features="image+text",
        config=MatchConfig(
            k=opts["k"],
            unbranded_index=opts.get("unbranded_index", "flat"),
            ivf_nprobe=opts.get("ivf_nprobe", MatchConfig.ivf_nprobe),
        ),
        model=opts.get("model"),
        image_spec=IMAGE_SPEC,
        text_spec=TEXT_SPEC,
    )
    seconds = time.perf_counter() - t
    if run.status != "done":
        raise SystemExit(f"match run #{run.pk} {run.status}: {run.error}")
    m = run.metrics
    return {
        "seconds": seconds,
        "run": run.pk,
        "candidates": Candidate.objects.filter(run=run).count(),
        "service_seconds": {k: round(v, 1) for k, v in m["seconds"].items()},
        "R@1": round(m.get("R@1", float("nan")), 3),
        "blocking_recall": round(m["blocking_recall"], 3),
        "comparisons_share": round(m["comparisons_share"], 4),
    }


def stage_route(opts: dict) -> dict:
    from matching.models import MatchRun
    from validation.services.routing import route_run

    run = MatchRun.objects.get(pk=opts["run"])
    t = time.perf_counter()
    summary = route_run(run=run)
    seconds = time.perf_counter() - t
    keys = ("accept", "review", "n_auto", "n_review", "n_dropped", "n_gold")
    return {"seconds": seconds, **{k: summary[k] for k in keys}}


def stage_export(opts: dict) -> dict:
    from matching.models import MatchRun
    from validation.services.export import write_export

    run = MatchRun.objects.get(pk=opts["run"])
    out = Path(opts["out"])
    t = time.perf_counter()
    n, dropped = write_export(run=run, path=out)
    seconds = time.perf_counter() - t
    return {"seconds": seconds, "rows": n, "conflicts_dropped": dropped}


STAGES = {"match": stage_match, "route": stage_route, "export": stage_export}


def child(stage: str, opts: dict) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--stage", stage, "--stage-opts", json.dumps(opts)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"stage {stage} failed ({done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sizes = {"--index": 442_000, "--queries": 90_000, "--brands": 3000, "--image-dim": 512}
    for flag, default in {**sizes, "--text-dim": 384, "--k": 3, "--seed": 0}.items():
        p.add_argument(flag, type=int, default=default)
    p.add_argument("--zipf", type=float, default=1.0, help="brand size exponent (long tail)")
    p.add_argument("--unbranded", type=float, default=0.10)
    p.add_argument(
        "--photo-brand",
        choices=("field", "true"),
        default="field",
        help="image vectors carry the brand field's direction (empty field: the 'unbranded' "
        "one; the first figures) or the product's true brand (a photo does not change with "
        "the metadata)",
    )
    p.add_argument("--in-index", type=float, default=0.6, help="queries with a true match")
    p.add_argument("--noise", type=float, default=0.8, help="query noise vs its product")
    p.add_argument(
        "--synthetic-run",
        action="store_true",
        help="route and export only: a demo synthetic run of --queries queries x 3 candidates "
        "(demo.synthetic_run; no index offers beyond the candidates, no match stage)",
    )
    p.add_argument(
        "--shops",
        nargs=2,
        metavar=("QUERY_SHOP", "INDEX_SHOP"),
        help="skip setup: match these shops made by an earlier run of this benchmark",
    )
    p.add_argument(
        "--reuse-run",
        type=int,
        metavar="RUN",
        help="route and export this existing run (a re-route if it was routed)",
    )
    p.add_argument("--projection", type=int, metavar="DIM", help="match with a random linear "
                   "head to DIM dims (timing of a model run; bench/_random_head.py)")  # fmt: skip
    p.add_argument("--unbranded-index", choices=("flat", "ivf", "ivf_all"), default="flat",
                   help="MatchConfig.unbranded_index of the match stage")  # fmt: skip
    p.add_argument("--ivf-nprobe", type=int, default=8, help="MatchConfig.ivf_nprobe")
    p.add_argument("--stage", choices=sorted(STAGES), help=argparse.SUPPRESS)
    p.add_argument("--stage-opts", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    _django()
    if args.stage:
        result = STAGES[args.stage](json.loads(args.stage_opts))
        result["peak_rss_mb"] = round(peak_rss_mb())
        print(json.dumps(result))
        return

    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit("set DATABASE_URL to a PostgreSQL database (this benchmark is for it)")
    command = "DATABASE_URL=... " + shlex.join(
        [".venv/bin/python", "bench/match_scale.py", *sys.argv[1:]]
    )
    print(f"uptime before: {uptime()}", flush=True)
    results: dict[str, dict] = {}
    if args.reuse_run:
        from matching.models import MatchRun

        run = MatchRun.objects.select_related("query_shop", "index_shop").get(pk=args.reuse_run)
        made = {"run": run.pk, "query_shop": run.query_shop.name, "index_shop": run.index_shop.name}
        made |= existing_facts(made["index_shop"])
        print(f"setup: reusing {json.dumps(made)}", flush=True)
        run_opts = {"run": run.pk}
    elif args.synthetic_run:
        from demo.synthetic_run import create_synthetic_run

        t = time.perf_counter()
        run = create_synthetic_run(n_queries=args.queries, seed=args.seed)
        made = {"largest_brand": 0, "unbranded_index": 0, "run": run.pk}
        print(f"setup: synthetic run #{run.pk} in {time.perf_counter() - t:.1f} s", flush=True)
        run_opts = {"run": run.pk}
    else:
        if args.shops:
            made = {"query_shop": args.shops[0], "index_shop": args.shops[1]}
            made |= existing_facts(made["index_shop"])
        else:
            made = setup(args)
        print(f"setup: {json.dumps(made)}", flush=True)
        opts = {"query_shop": made["query_shop"], "index_shop": made["index_shop"], "k": args.k,
                "unbranded_index": args.unbranded_index, "ivf_nprobe": args.ivf_nprobe}  # fmt: skip
        if args.projection:
            from _random_head import random_head_model  # bench/ is sys.path[0]

            opts["model"] = random_head_model(
                image_spec=IMAGE_SPEC, text_spec=TEXT_SPEC, dim=args.projection
            )
            print(f"model: random linear head to {args.projection} dims, #{opts['model']}")
        results["match"] = child("match", opts)
        print(f"match: {json.dumps(results['match'])}", flush=True)
        run_opts = {"run": results["match"]["run"]}
    results["route"] = child("route", run_opts)
    print(f"route: {json.dumps(results['route'])}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        results["export"] = child("export", {**run_opts, "out": str(Path(tmp) / "export.csv")})
    print(f"export: {json.dumps(results['export'])}", flush=True)
    goals = {"match": 300, "route": 30, "export": 15}
    out = io.StringIO()
    if args.synthetic_run:
        scale = f"synthetic run: {args.queries:,} queries, {3 * args.queries:,} index offers"
    else:
        scale = (
            f"{args.index:,} index x {args.queries:,} query offers, {args.brands} brands "
            f"(largest {made['largest_brand']:,} index offers), "
            f"{made['unbranded_index']:,} unbranded index offers"
        )
    out.write(f"\n{scale}; {os.cpu_count()} cores\n")
    out.write("| stage | seconds | goal | peak RSS (MB) |\n|---|---:|---:|---:|\n")
    for stage, r in results.items():
        out.write(f"| {stage} | {r['seconds']:.1f} | {goals[stage]} | {r['peak_rss_mb']:,} |\n")
    if "match" in results:
        out.write(f"match inside the service: {results['match']['service_seconds']}\n")
    elif args.reuse_run:
        out.write(f"route and export of the existing run #{args.reuse_run} (no match stage)\n")
    else:
        out.write(f"synthetic run of {args.queries:,} queries x 3 candidates (no match stage)\n")
    out.write(f"uptime after: {uptime()}\ncommand: {command}\n")
    print(out.getvalue())


if __name__ == "__main__":
    main()
