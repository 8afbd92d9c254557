"""Issue 12's "Done when" scenario on a real catalogue: trained on verdicts, no product ids.

    PYTHONPATH=. .venv/bin/python bench/verdict_training.py ../shared/data/bench/abt-buy \
        [--database-url URL] [--var-dir DIR] [--keep] [--min-gold-accuracy 0.9]

1. offers.csv is copied with EVERY product id emptied (both shops); they go to a truth file.
2. import_catalogue, encode (text), match --query-shop abt --index-shop buy --features text
   (raw: no model), route --review 0 (every query to review, nothing auto-accepted).
3. simulate_validators --validators 5 --tpr 0.9 --fpr 0.02 --truth FILE finishes the review.
4. train_projection --train-shops abt,buy --features text --labels verdicts; the same match with
   --model latest.
5. R@1 of both runs against the truth file (rank-1 candidate has the query's product, over the
   queries with a true match in the index), the label counts the model stored, pass/fail of
   "trained R@1 > raw R@1". The review covered every query, so this R@1 is measured on queries
   whose verdicts trained the model (the issue's scenario): an in-sample figure (the model's
   held-out calibration and validation products excepted). bench/feedback_rounds.py measures
   on queries nobody reviewed.

Every step is ``manage.py`` in a subprocess on a throw-away FASHIONID_VAR_DIR (SQLite by
default), as in bench/loop_scenario.py.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _loop_data import make_catalogue, read_truth
from loop_scenario import ROOT, Runner

QUERY_SHOP, INDEX_SHOP = "abt", "buy"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--database-url")
    ap.add_argument("--var-dir", type=Path)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--min-gold-accuracy", type=float)
    args = ap.parse_args()
    t_start = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="verdict-training-"))
    var = args.var_dir or work / "var"
    var.mkdir(parents=True, exist_ok=True)
    cat_dir, truth_path = work / "catalogue", work / "truth.csv"
    n, _ = make_catalogue(  # every product id goes to the truth file
        data_dir=args.data_dir, out_dir=cat_dir, truth_path=truth_path,
        hide=lambda row: bool(row["product_id"]),
    )  # fmt: skip
    print(f"catalogue {cat_dir}: {n} offers, every product id moved to {truth_path}")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        FASHIONID_VAR_DIR=str(var),
        SECRET_KEY=env.get("SECRET_KEY", "verdict-training"),
        DEBUG="0",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        DJANGO_SETTINGS_MODULE="fashionid_app.settings",
    )
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    r = Runner(env=env)
    match = ("match", "--query-shop", QUERY_SHOP, "--index-shop", INDEX_SHOP, "--features", "text")
    r.manage("migrate", "-v0")
    r.manage("import_catalogue", str(cat_dir), "--no-progress")
    r.manage("encode", "--image-encoder", "none", "--no-progress")
    r.manage(*match)
    r.manage("route", "latest", "--review", "0")
    r.manage("simulate_validators", "latest", "--validators", "5", "--tpr", "0.9", "--fpr",
             "0.02", "--truth", str(truth_path), "--seed", "0")  # fmt: skip
    train = ["train_projection", "--train-shops", f"{QUERY_SHOP},{INDEX_SHOP}", "--features",
             "text", "--labels", "verdicts"]  # fmt: skip
    if args.min_gold_accuracy is not None:
        train += ["--min-gold-accuracy", str(args.min_gold_accuracy)]
    r.manage(*train)
    r.manage(*match, "--model", "latest")

    os.environ.clear()
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from matching.models import Candidate, MatchRun, Offer, ProjectionModel

    truth = read_truth(truth_path)
    key = {o.pk: (o.shop.name, o.offer_id) for o in Offer.objects.select_related("shop")}
    index_products = {p for (s, _), p in truth.items() if s == INDEX_SHOP}

    def r1(run) -> tuple[float, int]:
        top = Candidate.objects.filter(run=run, rank=1).values_list(
            "query_offer_id", "candidate_offer_id"
        )
        hits = [
            truth.get(key[q]) == truth.get(key[c])
            for q, c in top
            if truth.get(key[q]) in index_products
        ]
        return sum(hits) / len(hits), len(hits)

    raw_run, model_run = MatchRun.objects.order_by("id")
    model = ProjectionModel.objects.filter(status="ready").latest("pk")
    (r1_raw, n_q), (r1_model, _) = r1(raw_run), r1(model_run)
    print(f"\nmodel #{model.pk} labels: {model.labels_summary}")
    print(f"label counts: {model.label_sources}")
    print(f"model metrics: val R@1 {model.metrics.get('val_R@1')}, "
          f"{model.metrics.get('calibration')}")  # fmt: skip
    print("\n| run | R@1 vs truth file | queries with a match |\n|---|---|---|")
    print(f"| raw (run #{raw_run.pk}) | {r1_raw:.3f} | {n_q} |")
    print(f"| trained on verdicts (run #{model_run.pk}, model #{model.pk}) | {r1_model:.3f} | "
          f"{n_q} |")  # fmt: skip
    ok = r1_model > r1_raw
    print(f"\ntrained R@1 > raw R@1: {'PASS' if ok else 'FAIL'}")
    print(f"total {time.perf_counter() - t_start:.0f} s")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept {work}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
