"""Audit a benchmark's answer key: which of the run's confident top-1s the key calls wrong.

    .venv/bin/python bench/answer_key_audit.py WORKDIR/bench.sqlite3 [--run 1] [--sample 50]

Reads the kept database of ``manage.py benchmark ... --workdir WORKDIR`` (SQLite). For the
run's top-1 candidates, sorted by score, it takes the threshold of the best F1 against the
catalogue's labels (product ids; a query "has a labelled match" when an index offer of the run's
period shares its product id) and counts the picks above it: right, wrong (the query has a
labelled match, another one), and "unlabelled" (the query has no labelled match at all). It then
prints a seeded random sample of the unlabelled picks, query title beside candidate title, for a
person to judge: where most of them are plainly the same product, the key lacks matches and caps
the measurable F1 (the printed estimate shows what a completed key would give at that threshold).
Nothing is written.
"""

from __future__ import annotations

import argparse
import random
import shlex
import sqlite3
import sys

_TOP1 = """
with q as (select o.id, o.product_id, o.title from matching_offer o
           where o.shop_id = :qshop and (:since is null or o.created_at >= :since)),
     lab as (select q.id from q where exists (
           select 1 from matching_offer i where i.shop_id = :ishop
           and (:since is null or i.created_at >= :since) and i.product_id = q.product_id))
select c.similarity,
       case when i.product_id = q.product_id then 'right'
            when q.id in (select id from lab) then 'wrong' else 'unlabelled' end,
       q.title, i.title
from matching_candidate c join q on q.id = c.query_offer_id
join matching_offer i on i.id = c.candidate_offer_id
where c.run_id = :run and c.rank = 1
order by c.similarity desc, c.query_offer_id
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("database", help="bench.sqlite3 of a benchmark --workdir")
    parser.add_argument("--run", type=int, default=1)
    parser.add_argument("--sample", type=int, default=50)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    print("$ .venv/bin/python bench/answer_key_audit.py " + shlex.join(sys.argv[1:]))
    db = sqlite3.connect(f"file:{args.database}?mode=ro", uri=True)
    run = db.execute(
        "select query_shop_id, index_shop_id, since from matching_matchrun where id = ?",
        (args.run,),
    ).fetchone()
    if run is None:
        raise SystemExit(f"no match run #{args.run} in {args.database}")
    params = {"qshop": run[0], "ishop": run[1], "since": run[2], "run": args.run}
    positives = db.execute(
        "select count(*) from matching_offer q where q.shop_id = :qshop"
        " and (:since is null or q.created_at >= :since) and exists (select 1 from"
        " matching_offer i where i.shop_id = :ishop and (:since is null or i.created_at >= :since)"
        " and i.product_id = q.product_id)",
        params,
    ).fetchone()[0]
    rows = db.execute(_TOP1, params).fetchall()
    if not rows or not positives:
        raise SystemExit("the run has no top-1 candidates or the key no labelled match")
    best, right = (0.0, 0), 0
    for n, row in enumerate(rows, start=1):
        right += row[1] == "right"
        f1 = 2 * right / (n + positives)
        if f1 > best[0]:
            best = (f1, n)
    picks = rows[: best[1]]
    counts = {kind: sum(r[1] == kind for r in picks) for kind in ("right", "wrong", "unlabelled")}
    print(
        f"{len(rows)} queries, {positives} with a labelled match; best F1 {best[0]:.3f} at "
        f"score >= {picks[-1][0]:.4f}: {best[1]} picks = {counts['right']} right, "
        f"{counts['wrong']} wrong, {counts['unlabelled']} on queries without a labelled match"
    )
    unlabelled = [r for r in picks if r[1] == "unlabelled"]
    sample = random.Random(args.seed).sample(unlabelled, min(args.sample, len(unlabelled)))
    print(f"\nrandom sample of {len(sample)} unlabelled picks (seed {args.seed}):")
    for i, (score, _, query, candidate) in enumerate(sample):
        print(f"{i:3d} {score:.3f} | {query[:95]} || {candidate[:95]}")
    print(
        "\nIf a share s of the unlabelled picks is the same product, a completed key gives at "
        "this threshold precision (right + s x unlabelled) / picks and recall at most "
        "(right + s x unlabelled) / (labelled + s x unlabelled)."
    )


if __name__ == "__main__":
    main()
