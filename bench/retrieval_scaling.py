"""Retrieval scaling: blocked vs brute-force search on synthetic vectors with realistic brands.

    .venv/bin/python bench/retrieval_scaling.py [--index-size 500000] [--queries 1000]
        [--brands 3000] [--zipf 0.9] [--unbranded 0.10] [--repeats 3] [--ann] [--write]

Index: ``--index-size`` random unit vectors (dim 192, like the projection's output). Brands:
``--brands`` synthetic names with long-tailed (Zipf ``--zipf``) sizes, ``--unbranded`` of the
offers without a brand, 20 % of the branded ones written as variants ("BRAND",
"Brand Originals", a dropped letter). Queries: noisy copies (cosine ~0.9) of random index offers
carrying a variant of the source's brand (so some true pairs are lost by blocking). Brand keys
are computed once beforehand (as import stores them); times include everything
:func:`matching.ml.retrieval.search` does (blocking plan, search, one-to-one) with the default
MatchConfig (k=3, shortlist 50, one-to-one). Brute force: the same search without blocking, and
one ``faiss.knn`` call over the whole index (k=50); the ratio is blocked / the faster of the two.
Blocked results are checked against masked brute force on sampled queries. ``--ann``: blocked
search with IVF / HNSW for blocks of >= 10,000 offers, recall@1 against exact blocked search.
``--sorted-index``: the index in brand-key order, as the match service loads it (a brand block
is then a slice of the index, searched without a copy). Times are wall seconds; the CPU
seconds of the process (all threads) are printed too, a steadier measure on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from collections import Counter

import numpy as np

DIM = 192
VERIFY_QUERIES = 100


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


def brand_names(rng, n: int) -> list[str]:
    syllables = ["ka", "lo", "mi", "ne", "tor", "sa", "vik", "ul", "ber", "don", "zu", "ra", "fe"]
    names: set[str] = set()
    while len(names) < n:
        names.add("".join(rng.choice(syllables, size=int(rng.integers(2, 5)))).capitalize())
    return sorted(names)


def catalogue(args):
    """(index vecs, index brands, query vecs, query brands, source index row of each query)."""
    rng = np.random.default_rng(args.seed)
    names = brand_names(rng, args.brands)
    weights = 1.0 / np.arange(1, len(names) + 1) ** args.zipf
    weights /= weights.sum()
    n = args.index_size
    index = rng.normal(size=(n, DIM)).astype(np.float32)
    index /= np.linalg.norm(index, axis=1, keepdims=True)
    index_brands = [names[i] for i in rng.choice(len(names), size=n, p=weights)]
    for i in rng.choice(n, size=n // 5, replace=False):
        index_brands[i] = variant(rng, index_brands[i])
    for i in rng.choice(n, size=int(n * args.unbranded), replace=False):
        index_brands[i] = ""
    source = rng.choice(n, size=args.queries, replace=False)
    noise = rng.normal(size=(args.queries, DIM)).astype(np.float32)
    queries = index[source] + 0.48 / np.sqrt(DIM) * noise
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    query_brands = [variant(rng, index_brands[i]) for i in source]
    return index, index_brands, queries, query_brands, source


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index-size", type=int, default=500_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--brands", type=int, default=3000)
    parser.add_argument("--zipf", type=float, default=0.9)
    parser.add_argument("--unbranded", type=float, default=0.10)
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ann", action="store_true")
    parser.add_argument("--write", action="store_true")
    parser.add_argument(
        "--sorted-index",
        action="store_true",
        help="store the index in brand-key order (as the match service loads it)",
    )
    args = parser.parse_args()

    import faiss

    from matching.ml import retrieval
    from matching.ml.blocking_plan import brand_block_searches
    from matching.ml.brands import block_keys, blocking_recall, brand_keys
    from matching.ml.match_config import MatchConfig

    command = ".venv/bin/python bench/retrieval_scaling.py " + shlex.join(sys.argv[1:])
    blocked_cfg = MatchConfig(text_weight=0.0)
    if args.threshold is not None:
        blocked_cfg = MatchConfig(text_weight=0.0, brand_threshold=args.threshold)
    brute_cfg = MatchConfig(text_weight=0.0, brand_threshold=None)
    threshold = blocked_cfg.brand_threshold

    started = time.perf_counter()
    index, index_brands, queries, query_brands, source = catalogue(args)
    ik, qk = brand_keys(index_brands), brand_keys(query_brands)
    if args.sorted_index:  # as the match service loads it: a brand block is a contiguous slice
        order = np.argsort(np.asarray(ik, dtype=object), kind="stable")
        index, ik = np.ascontiguousarray(index[order]), [ik[i] for i in order]
        source = np.argsort(order)[source]
    made = time.perf_counter() - started
    sizes = np.array(sorted(n for key, n in Counter(ik).items() if key))
    print(
        f"catalogue made in {made:.1f} s: {len(set(ik)) - 1} index brand keys, largest "
        f"{sizes.max():,} offers, median {int(np.median(sizes))}; "
        f"{sum(not k for k in ik) / len(ik):.1%} unbranded",
        flush=True,
    )

    cpu: dict[str, list[float]] = {"blocked": [], "brute search": [], "brute faiss.knn": []}
    loads: list[float] = []

    def timed(fn, name=None):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        if name:
            cpu[name].append(time.process_time() - c)
        return time.perf_counter() - t, out

    times: dict[str, list[float]] = {"blocked": [], "brute search": [], "brute faiss.knn": []}
    blocked = brute = None
    for _ in range(args.repeats):  # interleaved, so that load changes hit all three alike
        s, blocked = timed(
            lambda: retrieval.search(
                query_vecs=queries,
                index_vecs=index,
                config=blocked_cfg,
                query_keys=qk,
                index_keys=ik,
            ),
            "blocked",
        )
        times["blocked"].append(s)
        s, brute = timed(
            lambda: retrieval.search(query_vecs=queries, index_vecs=index, config=brute_cfg),
            "brute search",
        )
        times["brute search"].append(s)
        s, _ = timed(
            lambda: faiss.knn(queries, index, blocked_cfg.shortlist, faiss.METRIC_INNER_PRODUCT),
            "brute faiss.knn",
        )
        times["brute faiss.knn"].append(s)
        loads.append(os.getloadavg()[0])
        print(
            {k: round(v[-1], 2) for k, v in times.items()},
            "CPU s",
            {k: round(v[-1], 2) for k, v in cpu.items()},
            f"load {loads[-1]:.1f}",
            flush=True,
        )
    med = {k: float(np.median(v)) for k, v in times.items()}
    # each run's blocked time against the same run's faster brute force (robust to load drift)
    ratio = float(
        np.median(
            [
                b / min(s, f)
                for b, s, f in zip(*times.values(), strict=True)  # blocked, search, faiss.knn
            ]
        )
    )

    ratios = [b / min(s, f) for b, s, f in zip(*times.values(), strict=True)]
    plan_s, _ = timed(  # the part of the blocked time spent before any product
        lambda: brand_block_searches(query_keys=qk, index_keys=ik, threshold=threshold)
    )
    cpu_ratio = float(np.median([b / min(s, f) for b, s, f in zip(*cpu.values(), strict=True)]))

    true_pairs = list(enumerate(source.tolist()))
    recall_blocking = blocking_recall(
        query_keys=qk, index_keys=ik, true_pairs=true_pairs, threshold=threshold
    )
    share = blocked.comparisons / blocked.comparisons_unblocked
    r1_brute = float(np.mean(brute.indices[:, 0] == source))
    r1_blocked = float(np.mean(blocked.indices[:, 0] == source))

    # identical top-k inside blocks: plain top-k (no one-to-one) vs masked brute force
    plain_cfg = MatchConfig(text_weight=0.0, one_to_one=False, brand_threshold=threshold, k=10)
    sample = np.random.default_rng(1).choice(len(queries), size=min(VERIFY_QUERIES, len(queries)))
    sample = np.unique(sample)
    plain = retrieval.search(
        query_vecs=queries[sample], index_vecs=index, config=plain_cfg,
        query_keys=[qk[i] for i in sample], index_keys=ik,
    )  # fmt: skip
    blocks = {k: set(v) for k, v in block_keys(
        query_keys=[qk[i] for i in sample], index_keys=ik, threshold=threshold
    ).items()}  # fmt: skip
    code_of = {key: n for n, key in enumerate(dict.fromkeys(ik))}
    ik_codes = np.fromiter(map(code_of.__getitem__, ik), dtype=np.int64, count=len(ik))
    identical = True
    for row, qi in enumerate(sample):
        allowed = np.isin(ik_codes, [code_of[key] for key in blocks[qk[qi]]])
        sims = np.where(allowed, index @ queries[qi], -np.inf)
        order = np.lexsort((np.arange(len(sims)), -sims))[:10]
        expected = np.where(np.isfinite(sims[order]), order, -1)
        identical &= bool(np.array_equal(plain.indices[row], expected))
        identical &= bool(np.allclose(plain.similarities[row][expected >= 0],
                                      sims[order][expected >= 0], atol=1e-5))  # fmt: skip

    ann_rows = []
    if args.ann:
        for kind in ("ivf", "hnsw"):
            cfg = MatchConfig(
                text_weight=0.0, index_type=kind, one_to_one=False, brand_threshold=threshold
            )
            exact_cfg = MatchConfig(text_weight=0.0, one_to_one=False, brand_threshold=threshold)
            exact = retrieval.search(
                query_vecs=queries, index_vecs=index, config=exact_cfg, query_keys=qk,
                index_keys=ik,
            )  # fmt: skip
            s, ann = timed(
                lambda cfg=cfg: retrieval.search(
                    query_vecs=queries,
                    index_vecs=index,
                    config=cfg,
                    query_keys=qk,
                    index_keys=ik,
                )
            )
            agree = float(np.mean(ann.indices[:, 0] == exact.indices[:, 0]))
            ann_rows.append(f"| {kind} | {s:.2f} | {agree:.3f} |")
            print(ann_rows[-1], flush=True)

    lines = [
        "## Retrieval scaling (bench/retrieval_scaling.py)",
        "",
        "```",
        command,
        "```",
        "",
        f"{os.cpu_count()} CPU cores (load average {os.getloadavg()[0]:.1f} at the end), FAISS "
        f"{faiss.__version__} (CPU), {args.queries:,} queries x {args.index_size:,} index offers, "
        f"dim {DIM}, {args.brands:,} brands (Zipf {args.zipf:g}; {len(set(ik)) - 1:,} index "
        f"brand keys, largest {sizes.max():,} offers), {args.unbranded:.0%} unbranded; default "
        f"MatchConfig (k=3, shortlist 50, one-to-one), brand threshold {threshold:g}"
        f"{'; index in brand-key order' if args.sorted_index else ''}. Median "
        f"of {args.repeats} interleaved runs.",
        "",
        "| search | wall s | R@1 |",
        "| --- | ---: | ---: |",
        f"| brute force, one faiss.knn call (k=50) | {med['brute faiss.knn']:.2f} | |",
        f"| brute force, search() without blocking | {med['brute search']:.2f} | {r1_brute:.3f} |",
        f"| blocked, search() | {med['blocked']:.2f} | {r1_blocked:.3f} |",
        "",
        f"blocked / brute force wall time: **{ratio:.2f}** (median over the runs of blocked / "
        f"that run's faster brute force; runs: {', '.join(f'{r:.2f}' for r in ratios)}; load "
        f"{', '.join(f'{x:.1f}' for x in loads)}); the same by CPU time of the process (all "
        f"threads): {cpu_ratio:.2f}; blocking plan (brand matching, grouping) {plan_s:.2f} s "
        f"of the blocked time; "
        f"comparisons {share:.3f} of brute force; blocking recall {recall_blocking:.3f}; "
        f"top-10 identical to masked brute force on {len(sample)} sampled queries: "
        f"{'yes' if identical else 'NO'}.",
    ]
    if ann_rows:
        lines += [
            "",
            f"Approximate indexes for blocks of >= {retrieval.ANN_MIN_SIZE:,} offers (blocked, "
            "recall@1 = agreement with exact blocked search):",
            "",
            "| index | wall s | recall@1 vs exact |",
            "| --- | ---: | ---: |",
            *ann_rows,
        ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        from _sections import write_section  # bench/ is the script's folder: sys.path[0]

        write_section("retrieval-scaling", text)


if __name__ == "__main__":
    main()
