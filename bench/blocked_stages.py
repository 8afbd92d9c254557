"""Where a blocked search's wall time goes: its two streams timed apart, then the whole search.

    PYTHONPATH=. .venv/bin/python bench/blocked_stages.py [--repeats 3]

The catalogue of ``bench/retrieval_scaling.py`` (500k index offers in brand-key order, 1,000
queries, dim 192). :func:`matching.ml.retrieval.search` runs two streams at once (see
:func:`matching.ml.exact_search.in_background`): the main thread plans the brand blocks
(:func:`~matching.ml.blocking_plan.brand_block_searches`) and searches them, a worker thread
searches the unbranded offers (:func:`~matching.ml.blocking_plan.unbranded_searches`). Here each
stream runs alone on one BLAS thread (as each has in the search on 2 cores), then the whole
search; what the whole search takes beyond the longer stream is merging, one-to-one and waiting.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import retrieval_scaling  # the same catalogue


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print("$ PYTHONPATH=. .venv/bin/python bench/blocked_stages.py " + shlex.join(sys.argv[1:]))

    from matching.ml import exact_search, retrieval
    from matching.ml.blocking_plan import brand_block_searches, unbranded_searches
    from matching.ml.brands import brand_keys
    from matching.ml.match_config import MatchConfig

    shape = argparse.Namespace(
        index_size=500_000, queries=1000, brands=3000, zipf=0.9, unbranded=0.10, seed=args.seed
    )
    index, index_brands, queries, query_brands, _ = retrieval_scaling.catalogue(shape)
    ik, qk = brand_keys(index_brands), brand_keys(query_brands)
    order = np.argsort(np.asarray(ik, dtype=object), kind="stable")  # as the service loads it
    index, ik = np.ascontiguousarray(index[order]), [ik[i] for i in order]
    config = MatchConfig(text_weight=0.0)
    width = config.shortlist

    def shortlists(searches, **kwargs):
        return retrieval.cosine_shortlists(
            queries, index, searches=searches, width=width, index_type=config.index_type, **kwargs
        )

    for _ in range(args.repeats):
        with exact_search.one_blas_thread():
            t0 = time.perf_counter()
            searches = brand_block_searches(
                query_keys=qk, index_keys=ik, threshold=config.brand_threshold
            )
            t1 = time.perf_counter()
            shortlists(searches)
            t2 = time.perf_counter()
            unbranded = unbranded_searches(query_keys=qk, index_keys=ik)
            for u_search in unbranded:
                shortlists([u_search], limit_blas=False)
            t3 = time.perf_counter()
        retrieval.search(
            query_vecs=queries, index_vecs=index, config=config, query_keys=qk, index_keys=ik
        )
        t4 = time.perf_counter()
        pairs = sum(len(a) * len(b) for a, b in unbranded) / 1e6
        print(
            f"main thread: plan {t1 - t0:.3f} s + {len(searches)} brand-block searches "
            f"{t2 - t1:.3f} s | worker: unbranded searches ({pairs:.1f}M pairs) {t3 - t2:.3f} s "
            f"| whole blocked search {t4 - t3:.3f} s | load {os.getloadavg()[0]:.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
