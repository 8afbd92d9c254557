"""IVF recall and speed for the unbranded side of a blocked search, against exact search.

    PYTHONPATH=. .venv/bin/python bench/ivf_recall.py [--index 100000] [--queries 20000]
        [--nprobe 8 16 32 64] [--shape scale|retrieval] [--vectors FILE.npy]

The two unbranded searches of :func:`matching.ml.retrieval.search` (see
:mod:`matching.ml.ivf_search`): (a) the unbranded queries against the whole index, (b) the
branded queries against the unbranded index offers. For each ``--nprobe``: wall seconds of the
IVF search (building included) vs exact search (:func:`matching.ml.exact_search.exact_top`),
and recall@1 / @3 / @50 (the shortlist width of the default MatchConfig) against exact search;
also recall@1 of the true match (queries made from an index offer) where exact top-1 is it.

Vectors: ``--shape scale`` like ``bench/match_scale.py`` (raw runs: image 512 + text 384 dims,
each block L2-normalised, concatenated and normalised again; product + 0.7 x brand direction,
queries with noise 0.8; 60 % of the queries from an index offer, 10 % of the others and 5 % of
those unbranded: a query whose brand is missing while its match has one; half of the queries
of unbranded index offers carry a brand: the other way round);
``--shape retrieval`` like ``bench/retrieval_scaling.py`` (192 dims, noisy copies, cosine
~0.9). ``--vectors FILE.npy``: real vectors (n, d) instead: the first ``--index`` rows are the
index (the first 10 % of them "unbranded"), the next ``--queries`` rows the queries.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time

import numpy as np


def _unit(x: np.ndarray) -> np.ndarray:
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return x


def scale_shape(n_idx: int, n_q: int, brands: int, rng, *, photo_brand: str = "field") -> tuple:
    """(index, index brand (-1 none), queries, query brand, source row or -1).

    ``photo_brand="field"``: both blocks carry the direction of the brand *field* (an offer
    whose brand field is empty also loses its product's brand in its photo, as match_scale.py
    makes them); ``"true"``: the image block carries the product's true brand whatever the
    field says (a photo does not change with the metadata), the text block the field's."""
    weights = 1.0 / np.arange(1, brands + 1)
    weights /= weights.sum()
    idx_brand = rng.choice(brands, size=n_idx, p=weights)
    idx_true = idx_brand.copy()
    idx_brand[rng.random(n_idx) < 0.10] = -1
    has_match = rng.random(n_q) < 0.6
    source = np.where(has_match, rng.integers(0, n_idx, n_q), -1)
    q_brand = np.where(
        has_match, idx_brand[np.maximum(source, 0)], rng.choice(brands, n_q, p=weights)
    )
    q_true = np.where(has_match, idx_true[np.maximum(source, 0)], q_brand)
    q_brand[~has_match & (rng.random(n_q) < 0.10)] = -1
    q_brand[has_match & (rng.random(n_q) < 0.05)] = -1  # a matched query loses its brand
    # ... or has one while its match (an unbranded index offer) has none: half of those
    gained = has_match & (idx_brand[np.maximum(source, 0)] < 0) & (rng.random(n_q) < 0.5)
    q_brand[gained] = rng.choice(brands, int(gained.sum()), p=weights)
    if photo_brand == "true":  # the field names the product's real brand when it is filled
        q_brand[gained] = q_true[gained]
    index_parts, query_parts = [], []
    for dim in (512, 384):
        photo = photo_brand == "true" and dim == 512
        q_dir, i_dir = (q_true, idx_true) if photo else (q_brand, idx_brand)
        brand_dirs = rng.standard_normal((brands + 1, dim), dtype=np.float32)
        prod = rng.standard_normal((n_idx, dim), dtype=np.float32)
        fresh = rng.standard_normal((n_q, dim), dtype=np.float32)
        qv = np.where(has_match[:, None], prod[np.maximum(source, 0)], fresh)
        qv += 0.8 * rng.standard_normal(qv.shape, dtype=np.float32)
        qv += 0.7 * brand_dirs[q_dir]
        prod += 0.7 * brand_dirs[i_dir]
        index_parts.append(_unit(prod))
        query_parts.append(_unit(qv))
    index = _unit(np.hstack(index_parts))
    queries = _unit(np.hstack(query_parts))
    return index, idx_brand, queries, q_brand, source


def retrieval_shape(n_idx: int, n_q: int, rng) -> tuple:
    index = _unit(rng.standard_normal((n_idx, 192), dtype=np.float32))
    idx_brand = np.zeros(n_idx, dtype=np.int64)
    idx_brand[rng.random(n_idx) < 0.10] = -1
    source = rng.integers(0, n_idx, n_q)
    queries = _unit(
        index[source] + 0.48 / np.sqrt(192) * rng.standard_normal((n_q, 192), dtype=np.float32)
    )
    return index, idx_brand, queries, idx_brand[source].copy(), source


def end_to_end(args, index, idx_brand, queries, q_brand, source) -> list[str]:
    """search() with the default MatchConfig, unbranded side exact vs IVF (``ivf``: the branded
    queries x unbranded index offers; ``ivf_all``: also the unbranded queries x the whole
    index): final top-k recall against the exact search."""
    from retrieval_scaling import brand_names  # bench/ is the script's folder: sys.path[0]

    from matching.ml.brands import brand_keys
    from matching.ml.ivf_search import recall_at
    from matching.ml.match_config import MatchConfig
    from matching.ml.retrieval import search

    names = brand_names(
        np.random.default_rng(args.seed), int(max(idx_brand.max(), q_brand.max())) + 1
    )
    ik = brand_keys(["" if b < 0 else names[b] for b in idx_brand])
    qk = brand_keys(["" if b < 0 else names[b] for b in q_brand])
    extra = {} if args.min_comparisons is None else {"ivf_min_comparisons": args.min_comparisons}
    out = [
        "End to end: search() with the default MatchConfig (k=3, shortlist 50, one-to-one); "
        "the same search with unbranded_index='flat' is the reference.",
        "",
        "| unbranded | nprobe | search s | R@1 vs exact | R@3 vs exact | true-match R@1 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    runs = [("flat", None)] + [(kind, n) for kind in ("ivf", "ivf_all") for n in args.nprobe]
    exact = None
    for kind, nprobe in runs:
        cfg = MatchConfig(text_weight=0.0, unbranded_index=kind, **extra)
        if nprobe is not None:
            cfg = MatchConfig(text_weight=0.0, unbranded_index=kind, ivf_nprobe=nprobe, **extra)
        t = time.perf_counter()
        res = search(query_vecs=queries, index_vecs=index, config=cfg, query_keys=qk, index_keys=ik)
        sec = time.perf_counter() - t
        if exact is None:
            exact = res.indices
        has = source >= 0
        true_r1 = float((res.indices[has, 0] == source[has]).mean())
        out.append(
            f"| {kind} | {nprobe or ''} | {sec:.1f} | {recall_at(res.indices, exact, 1):.4f} "
            f"| {recall_at(res.indices, exact, 3):.4f} | {true_r1:.4f} |"
        )
        print(out[-1], flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--index", type=int, default=100_000)
    p.add_argument("--queries", type=int, default=20_000)
    p.add_argument("--brands", type=int, default=1000)
    p.add_argument("--nprobe", type=int, nargs="+", default=[8, 16, 32, 64])
    p.add_argument("--shape", choices=("scale", "retrieval"), default="scale")
    p.add_argument("--vectors", help="real vectors (.npy) instead of synthetic ones")
    p.add_argument("--max-queries", type=int, default=5000, help="queries per search (sampled)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--photo-brand",
        choices=("field", "true"),
        default="field",
        help="scale shape: image vectors carry the brand field's direction, or the true brand's",
    )
    p.add_argument("--no-search", action="store_true", help="skip the end-to-end search()")
    p.add_argument("--min-comparisons", type=int, default=None, help="ivf_min_comparisons")
    args = p.parse_args()

    from matching.ml import ivf_search
    from matching.ml.exact_search import exact_top

    rng = np.random.default_rng(args.seed)
    if args.vectors:
        data = np.load(args.vectors, mmap_mode="r")
        index = _unit(np.array(data[: args.index], dtype=np.float32))
        queries = _unit(np.array(data[args.index : args.index + args.queries], dtype=np.float32))
        idx_brand = np.zeros(len(index), dtype=np.int64)
        idx_brand[: len(index) // 10] = -1
        q_brand = np.zeros(len(queries), dtype=np.int64)
        q_brand[: len(queries) // 10] = -1
        source = np.full(len(queries), -1)
        shape = f"real vectors {args.vectors}"
    elif args.shape == "scale":
        index, idx_brand, queries, q_brand, source = scale_shape(
            args.index, args.queries, args.brands, rng, photo_brand=args.photo_brand
        )
        shape = f"match_scale shape (896 dims; photos carry the brand {args.photo_brand})"
    else:
        index, idx_brand, queries, q_brand, source = retrieval_shape(args.index, args.queries, rng)
        shape = "retrieval_scaling shape (192 dims)"
    width = 50
    unbranded_x = np.flatnonzero(idx_brand < 0)
    cases = {
        "(a) unbranded queries x whole index": (np.flatnonzero(q_brand < 0), np.arange(len(index))),
        "(b) branded queries x unbranded index": (np.flatnonzero(q_brand >= 0), unbranded_x),
    }
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"uptime before: {uptime}")
    lines = [
        "```",
        "PYTHONPATH=. .venv/bin/python bench/ivf_recall.py " + shlex.join(sys.argv[1:]),
        "```",
        f"{shape}; {args.index:,} index x {args.queries:,} queries; {os.cpu_count()} cores; "
        f"nlist = {ivf_search.IVF_LISTS_FACTOR:g} x sqrt(n)",
        "",
        "| search | queries x index | nlist | nprobe | exact s | IVF s | R@1 | R@3 | R@50 "
        "| true match kept |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, (q_rows, x_rows) in cases.items():
        if len(q_rows) > args.max_queries:
            q_rows = np.sort(rng.choice(q_rows, args.max_queries, replace=False))
        qv, xv = queries[q_rows], np.ascontiguousarray(index[x_rows])
        t = time.perf_counter()
        exact = np.empty((len(qv), width), dtype=np.int64)
        for sl, cols, top in exact_top(qv, xv, width):
            order = np.lexsort((cols, -top), axis=1)
            exact[sl] = np.take_along_axis(cols, order, axis=1)
        t_exact = time.perf_counter() - t
        # the true match, where exact search ranks it first
        pos_of = {int(r): i for i, r in enumerate(x_rows)}
        true_local = np.array([pos_of.get(int(s), -2) for s in source[q_rows]])
        first = exact[:, 0] == true_local
        for nprobe in args.nprobe:
            t = time.perf_counter()
            local, _ = ivf_search.ivf_top(qv, xv, width, nprobe=nprobe)
            t_ivf = time.perf_counter() - t
            r = [ivf_search.recall_at(local, exact, k) for k in (1, 3, 50)]
            kept = (
                float((local[first, 0] == true_local[first]).mean())
                if first.any()
                else float("nan")
            )
            lines.append(
                f"| {name} | {len(qv):,} x {len(xv):,} | {ivf_search.n_lists(len(xv))} | {nprobe} "
                f"| {t_exact:.1f} | {t_ivf:.1f} | {r[0]:.3f} | {r[1]:.3f} | {r[2]:.3f} "
                f"| {kept:.3f} ({int(first.sum())}) |"
            )
            print(lines[-1], flush=True)
    if not args.vectors and not args.no_search:
        lines += ["", *end_to_end(args, index, idx_brand, queries, q_brand, source)]
    lines.append(f"load after: {os.getloadavg()[0]:.1f}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
