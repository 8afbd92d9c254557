"""What brand blocking loses when two shops file a product under different brands, and what a
"brand named in the title" extension of the blocks would win back and cost.

    .venv/bin/python bench/brand_mentions.py ../shared/data/bench/walmart-amazon \\
        --query-shop walmart --index-shop amazon --since 2021-01-01

Reads the catalogue's offers.csv (no database). Blocks as `match` does (``brand_key``,
``fuzzy_matches`` at ``--brand-threshold``; a branded query's block also holds the unbranded
index offers, an unbranded query is compared with everything). Counts the labelled matches
(same product id) outside the blocks, then two extensions: (1) a query also searches the index
brands its title names (a brand key of 3+ characters as whole words), (2) also the index offers
whose titles name the query's brand. Prints the matches each wins back and the comparisons it
adds. Nothing is written.
"""

from __future__ import annotations

import argparse
import csv
import re
import shlex
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIN_KEY = 3


def _words(text: str) -> str:
    return " " + " ".join(re.sub(r"[\W_]+", " ", text.casefold()).split()) + " "


def _named(title: str, keys_by_first: dict[str, list[str]]) -> set[str]:
    """The brand keys that occur in ``title`` as whole words."""
    text = _words(title)
    return {
        key
        for word in set(text.split())
        for key in keys_by_first.get(word, ())
        if f" {key} " in text
    }


def _by_first(keys) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        if len(key) >= MIN_KEY:
            out[key.split()[0]].append(key)
    return out


def main(argv: list[str] | None = None) -> None:
    from matching.ml.brands import brand_key, fuzzy_matches

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("catalogue", type=Path)
    parser.add_argument("--query-shop", required=True)
    parser.add_argument("--index-shop", required=True)
    parser.add_argument("--since", default="", help="only offers created on or after (ISO)")
    parser.add_argument("--brand-threshold", type=float, default=80.0)
    args = parser.parse_args(argv)
    print("$ .venv/bin/python bench/brand_mentions.py " + shlex.join(sys.argv[1:]))
    with open(args.catalogue / "offers.csv", newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["created_at"] >= args.since]
    queries = [r for r in rows if r["shop"] == args.query_shop]
    index = [r for r in rows if r["shop"] == args.index_shop]
    if not queries or not index:
        raise SystemExit("no query or no index offers (check the shop names and --since)")
    index_keys = [brand_key(r["brand"]) for r in index]
    size = Counter(index_keys)
    named = sorted(k for k in size if k)
    query_keys = sorted({brand_key(r["brand"]) for r in queries} - {""})
    matches = fuzzy_matches(query_keys, named, threshold=args.brand_threshold)
    blocks = {k: {named[j] for j in matches[i]} | {k, ""} for i, k in enumerate(query_keys)}
    index_first = _by_first(named)
    query_first = _by_first(query_keys)
    naming: dict[str, set[int]] = defaultdict(set)  # query brand key -> index offers naming it
    for j, r in enumerate(index):
        for key in _named(r["title"], query_first):
            naming[key].add(j)
    product_rows: dict[str, set[int]] = defaultdict(set)
    for j, r in enumerate(index):
        if r["product_id"]:
            product_rows[r["product_id"]].add(j)
    compared = added_keys = added_rows = 0
    outside = back_keys = back_both = 0
    for r in queries:
        key = brand_key(r["brand"])
        if not key:
            compared += len(index)
            continue
        block = blocks[key]
        compared += sum(size[k] for k in block)
        more_keys = _named(r["title"], index_first) - block
        more_rows = {j for j in naming.get(key, ()) if index_keys[j] not in block | more_keys}
        added_keys += sum(size[k] for k in more_keys)
        added_rows += sum(size[k] for k in more_keys) + len(more_rows)
        true = product_rows.get(r["product_id"], set()) if r["product_id"] else set()
        if true and not any(index_keys[j] in block for j in true):
            outside += 1
            by_keys = any(index_keys[j] in more_keys for j in true)
            back_keys += by_keys
            back_both += by_keys or bool(true & more_rows)
    print(
        f"{len(queries)} queries x {len(index)} index offers; {compared:,} comparisons in the "
        f"brand blocks; {outside} labelled matches outside them"
    )
    print(
        f"(1) + index brands named in the query's title: {back_keys} of {outside} back, "
        f"+{added_keys:,} comparisons (+{100 * added_keys / compared:.1f} %)"
    )
    print(
        f"(2) + also index offers naming the query's brand: {back_both} of {outside} back, "
        f"+{added_rows:,} comparisons (+{100 * added_rows / compared:.1f} %)"
    )


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
