"""Image towers compared on a subset: raw image cosine R@1/AUCPR and encoding time per tower.

    PYTHONPATH=. nice -n 10 .venv/bin/python bench/image_tower_subset.py \
        ../shared/data/bench/fashion-xshop-dev --query-shop dune --index-shop atelier \
        --cutoff 2025-07-01 --queries 400 --index 800 \
        --specs efficientnet-lite0,efficientnet-lite1,efficientnet-lite2

A cheap stand-in for a full ``benchmark`` run per tower (which encodes every image of the
catalogue): queries are offers of ``--query-shop`` created on or after ``--cutoff``, sampled
(seed 0) so that the share with a match stays what it is in the full test; the index is every
``--index-shop`` offer (same date rule) that matches a sampled query plus random others up to
``--index``. Each offer is its first ``--images-per-offer`` images (mean of L2-normalised
embeddings, as the product does), matched by exact cosine; ``product_id`` is used only to score.
Plain raw embeddings: no projection, no text, no blocking, no one-to-one.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import time
from pathlib import Path

import numpy as np


def _sample(rows: list[dict], args) -> tuple[list[dict], list[dict]]:
    rng = random.Random(0)
    late = [r for r in rows if r["created_at"] >= args.cutoff]
    queries = [r for r in late if r["shop"] == args.query_shop]
    index = [r for r in late if r["shop"] == args.index_shop]
    index_products = {r["product_id"] for r in index}
    matched = [q for q in queries if q["product_id"] in index_products]
    lone = [q for q in queries if q["product_id"] not in index_products]
    n_matched = round(args.queries * len(matched) / max(len(queries), 1))
    chosen = rng.sample(matched, min(n_matched, len(matched)))
    chosen += rng.sample(lone, min(args.queries - len(chosen), len(lone)))
    wanted = {q["product_id"] for q in chosen}
    needed = [r for r in index if r["product_id"] in wanted]
    others = [r for r in index if r["product_id"] not in wanted]
    extra = rng.sample(others, max(0, min(args.index - len(needed), len(others))))
    return chosen, needed + extra


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("catalogue", type=Path)
    parser.add_argument("--query-shop", required=True)
    parser.add_argument("--index-shop", required=True)
    parser.add_argument("--cutoff", required=True, help="YYYY-MM-DD")
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--index", type=int, default=800)
    parser.add_argument("--images-per-offer", type=int, default=1)
    parser.add_argument("--specs", default="efficientnet-lite0,efficientnet-lite1")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    import torch
    from PIL import Image

    from matching.ml.encoders import create_image_encoder
    from matching.ml.evaluation import evaluate
    from matching.ml.exact_search import exact_top

    with (args.catalogue / "offers.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    queries, index = _sample(rows, args)

    def images(offers: list[dict]) -> list[list[str]]:
        return [
            [str(args.catalogue / p) for p in o["images"].split("|") if p][: args.images_per_offer]
            for o in offers
        ]

    q_paths, i_paths = images(queries), images(index)
    n_images = sum(map(len, q_paths)) + sum(map(len, i_paths))
    print(
        f"{len(queries)} {args.query_shop} queries "
        f"({sum(q['product_id'] in {i['product_id'] for i in index} for q in queries)} with a "
        f"match) against {len(index)} {args.index_shop} offers; {n_images} images; "
        f"torch {torch.get_num_threads()} threads; load {os.getloadavg()[0]:.1f}"
    )
    print("| tower | input px | images/s | seconds | R@1 | R@3 | AUCPR | best F1 | load |")
    print("|---|---|---|---|---|---|---|---|---|")
    for spec in args.specs.split(","):
        encoder = create_image_encoder(spec, device="cpu")
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        qv, _ = encoder.encode_offer_images(q_paths, num_workers=args.workers)
        iv, _ = encoder.encode_offer_images(i_paths, num_workers=args.workers)
        seconds = time.perf_counter() - started
        idx = np.zeros((len(qv), 3), dtype=np.int64)
        sims = np.zeros((len(qv), 3), dtype=np.float32)
        for rows_q, cols, top in exact_top(qv.astype(np.float32), iv.astype(np.float32), 3):
            order = np.argsort(-top, axis=1, kind="stable")  # exact_top's rows are unordered
            idx[rows_q] = np.take_along_axis(cols, order, axis=1)
            sims[rows_q] = np.take_along_axis(top, order, axis=1)
        ev = evaluate(
            query_product_ids=[q["product_id"] for q in queries],
            index_product_ids=[i["product_id"] for i in index],
            indices=idx,
            similarities=sims,
            k=3,
        )
        m = ev.metrics
        size = encoder.preprocess(Image.new("RGB", (8, 8))).shape[-1]
        print(
            f"| {spec} | {size} | {n_images / seconds:.1f} | {seconds:.0f} | "
            f"{100 * m['R@1']:.1f} | {100 * m['R@3']:.1f} | {100 * m['AUCPR']:.1f} | "
            f"{100 * m['best_F1']:.1f} | {load_before:.1f}/{os.getloadavg()[0]:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
