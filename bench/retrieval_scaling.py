"""Retrieval scaling: blocked vs brute-force search, and flat vs IVF vs HNSW, on synthetic vectors.

    .venv/bin/python bench/retrieval_scaling.py [--sizes 10000,100000,500000] [--queries 1000]
        [--ann-sizes 10000,100000] [--write]

Index: n random unit vectors (dim 192, like the projection's output) with brands drawn from
2,000 brand names (Zipf-like frequencies), 20 % of them written as variants
("Brand Originals", "BRAND", typos) and 3 % without a brand. Queries: noisy copies
(cosine ≈ 0.9 to their source) of random index offers, carrying a variant of the source's brand
(so some true pairs are lost by blocking). Search time includes building the per-block
indexes. Blocking recall = share of true pairs inside the blocks; comparisons = query-index dot
products made. ANN part: no blocking, the whole index in one FAISS index (IVF nlist=4·sqrt(n),
nprobe 16; HNSW M=32, efSearch 128), recall@1 against the exact top-1, build and search time.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DIM = 192
DEFAULT_BRAND_THRESHOLD = 80.0  # = matching.services.DEFAULT_BRAND_THRESHOLD (no Django here)


def brands(rng, n: int, names: list[str], weights):
    return [names[i] for i in rng.choice(len(names), size=n, p=weights)]


def variant(rng, brand: str) -> str:
    if not brand:
        return brand
    r = rng.random()
    if r < 0.4:
        return brand
    if r < 0.6:
        return brand.upper()
    if r < 0.8:
        return f"{brand} Originals"
    i = int(rng.integers(1, max(2, len(brand) - 1)))
    return brand[:i] + brand[i + 1 :]  # a dropped letter (typo)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,500000")
    parser.add_argument("--ann-sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    import faiss
    import numpy as np

    from matching.ml import retrieval
    from matching.ml.brands import blocking_recall, brand_keys
    from matching.ml.match_config import MatchConfig

    threshold = args.threshold if args.threshold is not None else DEFAULT_BRAND_THRESHOLD
    rng = np.random.default_rng(0)
    syllables = ["ka", "lo", "mi", "ne", "tor", "sa", "vik", "ul", "ber", "don", "zu", "ra"]
    names = sorted(
        {
            "".join(rng.choice(syllables, size=int(rng.integers(2, 4)))).capitalize()
            for _ in range(3000)
        }
    )[:2000]
    weights = 1.0 / np.arange(1, len(names) + 1) ** 0.8
    weights /= weights.sum()

    def unit(x):
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    rows = []
    ann_rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        index = unit(rng.normal(size=(n, DIM)))
        index_brands = brands(rng, n, names, weights)
        for i in rng.choice(n, size=n // 5, replace=False):
            index_brands[i] = variant(rng, index_brands[i])
        for i in rng.choice(n, size=n * 3 // 100, replace=False):
            index_brands[i] = ""
        source = rng.choice(n, size=args.queries, replace=False)
        queries = unit(index[source] + 0.48 / np.sqrt(DIM) * rng.normal(size=(args.queries, DIM)))
        query_brands = [variant(rng, index_brands[i]) for i in source]
        true_pairs = list(enumerate(source.tolist()))

        started = time.perf_counter()
        qk, ik = brand_keys(query_brands), brand_keys(index_brands)
        plain = MatchConfig(k=3, brand_threshold=None, text_weight=0.0)
        blocked_cfg = MatchConfig(k=3, brand_threshold=threshold, text_weight=0.0)
        brute = retrieval.search(query_vecs=queries, index_vecs=index, config=plain)
        brute_s = time.perf_counter() - started
        started = time.perf_counter()
        blocked = retrieval.search(
            query_vecs=queries, index_vecs=index, config=blocked_cfg, query_keys=qk, index_keys=ik
        )
        blocked_s = time.perf_counter() - started
        recall_blocking = blocking_recall(
            query_keys=qk, index_keys=ik, true_pairs=true_pairs, threshold=threshold
        )
        r1_brute = float(np.mean(brute.indices[:, 0] == source))
        r1_blocked = float(np.mean(blocked.indices[:, 0] == source))
        rows.append(
            f"| {n:,} | {brute_s:.2f} | {r1_brute:.3f} | {blocked_s:.2f} | {r1_blocked:.3f} | "
            f"{recall_blocking:.3f} | {blocked.comparisons / brute.comparisons_unblocked:.3f} |"
        )
        print(rows[-1], flush=True)

        if str(n) in args.ann_sizes.split(","):
            exact = brute.indices[:, 0]
            for kind in ("flat", "ivf", "hnsw"):
                started = time.perf_counter()
                ann = retrieval.build_index(index, index_type=kind, k=3)
                if kind != "flat" and n < retrieval.ANN_MIN_SIZE:
                    ann = retrieval.build_index(index, index_type="flat", k=3)
                built = time.perf_counter() - started
                started = time.perf_counter()
                _, found = ann.search(queries, 3)
                searched = time.perf_counter() - started
                agree = float(np.mean(found[:, 0] == exact))
                ann_rows.append(
                    f"| {n:,} | {kind} | {built:.2f} | {1000 * searched / args.queries:.3f} | "
                    f"{agree:.3f} |"
                )
                print(ann_rows[-1], flush=True)

    lines = [
        "## Retrieval scaling (bench/retrieval_scaling.py)",
        "",
        "```",
        f".venv/bin/python bench/retrieval_scaling.py --sizes {args.sizes} --ann-sizes "
        f"{args.ann_sizes} --queries {args.queries} --write",
        "```",
        "",
        f"{os.cpu_count()} CPU cores, FAISS {faiss.__version__} (CPU), {args.queries} queries, "
        f"dim {DIM}, k=3, brand threshold {threshold:g} (rapidfuzz token-set ratio on brand "
        "keys). Times include building the indexes.",
        "",
        "| index offers | brute force s | R@1 | blocked s | R@1 | blocking recall | "
        "comparisons vs brute force |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        "Approximate indexes, no blocking (recall@1 = agreement with the exact top-1):",
        "",
        "| index offers | index | build s | search ms/query | recall@1 vs exact |",
        "| ---: | --- | ---: | ---: | ---: |",
        *ann_rows,
        "",
        "Choice: exact flat search inside brand blocks (the default). Blocking cuts the "
        "comparisons by the share shown, keeps the search exact inside each block and its only "
        "loss is the blocking recall. `--index-type ivf|hnsw` switches blocks of >= 10,000 offers "
        "to IVF / HNSW: HNSW keeps recall near 1 at a high build cost, IVF builds fast and loses "
        "a few % recall at nprobe 16.",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        from bench._sections import write_section

        write_section("retrieval-scaling", text)


if __name__ == "__main__":
    main()
