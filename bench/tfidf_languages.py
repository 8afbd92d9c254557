"""Raw title TF-IDF retrieval across languages: plain vs canonical English titles (cheap, no model).

    PYTHONPATH=. .venv/bin/python bench/tfidf_languages.py /tmp/xshop-en /tmp/xshop-de \
        --query-shops boulevard,dune --index-shop atelier --cutoff 2025-07-01

For each catalogue folder (e.g. variants written by bench/translate_catalogue.py) and query
shop: queries = that shop's offers created on or after ``--cutoff``, index = the index shop's;
:class:`matching.ml.text_similarity.SparseText` (character 2-5-grams + words) is fitted on both
sides' titles, every query takes its exact top 3 by TF-IDF cosine, scored with
:func:`matching.ml.evaluation.evaluate` (R@1, AUCPR). Once on the titles as they are, once with
``canonical=True`` (:func:`matching.ml.text_normalise.canonical_title` first). Titles only: no
brand blocking, no images, no training.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("catalogues", nargs="+", type=Path)
    parser.add_argument("--query-shops", required=True)
    parser.add_argument("--index-shop", required=True)
    parser.add_argument("--cutoff", required=True)
    args = parser.parse_args()

    from matching.ml.evaluation import evaluate
    from matching.ml.text_similarity import SparseText

    print("| catalogue | query shop | titles | R@1 | R@3 | AUCPR | best F1 | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for folder in args.catalogues:
        with (folder / "offers.csv").open(newline="", encoding="utf-8") as f:
            rows = [r for r in csv.DictReader(f) if r["created_at"] >= args.cutoff]
        index = [r for r in rows if r["shop"] == args.index_shop]
        for shop in args.query_shops.split(","):
            queries = [r for r in rows if r["shop"] == shop]
            for canonical in (False, True):
                started = time.perf_counter()
                q_titles = [r["title"] for r in queries]
                i_titles = [r["title"] for r in index]
                model = SparseText(canonical=canonical).fit(q_titles + i_titles)
                scores = (model.transform(q_titles) @ model.transform(i_titles).T).toarray()
                idx = np.argsort(-scores, axis=1, kind="stable")[:, :3]
                sims = np.take_along_axis(scores, idx, axis=1)
                m = evaluate(
                    query_product_ids=[r["product_id"] for r in queries],
                    index_product_ids=[r["product_id"] for r in index],
                    indices=idx,
                    similarities=sims,
                    k=3,
                ).metrics
                seconds = time.perf_counter() - started
                print(
                    f"| {folder.name} | {shop} | {'canonical' if canonical else 'as written'} | "
                    f"{100 * m['R@1']:.1f} | {100 * m['R@3']:.1f} | {100 * m['AUCPR']:.1f} | "
                    f"{100 * m['best_F1']:.1f} | {seconds:.1f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
