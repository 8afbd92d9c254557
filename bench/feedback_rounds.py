"""Feedback rounds (issue 12): do validators' verdicts on a new shop train a better model?

    PYTHONPATH=. .venv/bin/python bench/feedback_rounds.py --workdir DIR \
        [--features text] [--seeds 0,1] [--tpr 0.9 --fpr 0.02] [--seconds-per-judgement 10]

Needs the xshop bundle of bench/quality_experiments.py (``prepare --datasets xshop``: raw text
vectors, image vectors from the benchmark's embedding cache) in ``--workdir``. Library level,
no database: the same calls as the services (assemble_features -> train_projection ->
head.project -> retrieval.search -> evaluation), with the training labels built by
matching.ml.labels.build_labels exactly as ``train_projection --labels product_ids,verdicts``
builds them.

fashion-xshop-dev (PROTOCOL.md): index = atelier offers >= 2025-07-01 (5000). The query shop
``dune`` (1000 offers, 350 with a match in the index, never in training) is the new shop whose
product ids are hidden. Its offers are split at random (``--seed``) into two halves: review and
test.

* round 0: the protocol's model, trained on atelier, boulevard and corso before the cut-off
  (product ids); match the review half against the index (top-k = 3);
* route: every review-half query goes to review with its 3 candidates (no auto-accept, no drop);
* simulated validators judge as ``simulate_validators --truth`` does: on a row whose true match
  is shown they pick it with probability TPR, else "none"; on a row without it they pick the
  rank-1 candidate with probability FPR, else "none". Majority of three with early decision
  (the third judgement only when the first two disagree). Verdicts as the review records them
  (matching.verdicts.verdicts_of_review): the chosen candidate accepted, the other shown ones
  rejected;
* round 1: retrain on the same shops' product ids plus the verdicts: the review-half queries and
  the index offers in verdicts join the training offers (their product ids stay hidden),
  accepted pairs are positives, rejected candidates hard negatives in their query's batch;
* ceiling: retrain with the review half's hidden product ids instead (its queries and their
  true index matches, with product ids).

Reported on the TEST half (queries never reviewed) against the whole index: AUCPR@1 and R@1 of
round 0, round 1, round 1 without hard negatives (``--ablation``) and the ceiling; the share of the
round-0 -> ceiling AUCPR gap that round 1 closes; judgements and validator-seconds (judgements x
``--seconds-per-judgement``, an assumed review pace: the simulation has no clock).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality_experiments import _load, search_and_evaluate

from matching.ml import retrieval
from matching.ml.features import NumericScaler
from matching.ml.labels import build_labels
from matching.ml.match_config import MatchConfig
from matching.ml.projection import assemble_features
from matching.ml.training import TrainConfig, train_projection
from matching.verdicts import ACCEPTED, verdicts_of_review

CUTOFF, INDEX_SHOP, HIDDEN_SHOP = "2025-07-01", "atelier", "dune"
TRAIN_SHOPS = ("atelier", "boulevard", "corso")


def judge_rows(rows, *, pid, tpr: float, fpr: float, rng: random.Random):
    """Simulated review of (query, shown candidates) rows: [(query, shown, choice or None)] and
    the number of judgements (majority of three, early decision)."""
    out, n_judgements = [], 0
    for q, shown in rows:
        true = next((c for c in shown if pid[q] and pid[c] == pid[q]), None)
        a, b = _one(true, shown, tpr, fpr, rng), _one(true, shown, tpr, fpr, rng)
        n_judgements += 2
        if a != b:  # two of three agree: the third sides with a or b
            a = _one(true, shown, tpr, fpr, rng)
            n_judgements += 1
        out.append((q, shown, a))
    return out, n_judgements


def _one(true, shown, tpr, fpr, rng) -> int | None:
    if true is not None:
        return true if rng.random() < tpr else None
    return shown[0] if rng.random() < fpr else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--features", default="text", help="e.g. text or image,text,numeric")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--tpr", type=float, default=0.9)
    ap.add_argument("--fpr", type=float, default=0.02)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--seconds-per-judgement", type=float, default=10.0)
    ap.add_argument("--epochs", type=int, default=TrainConfig.epochs, help="cap (early stopping)")
    ap.add_argument("--ablation", action="store_true", help="also round 1 without hard negatives")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(2)
    feats = tuple(args.features.split(","))
    d = _load(args.workdir, "xshop")
    if "image" in feats and not bool(np.all(d.get("image_cached", [False]))):
        raise SystemExit("image vectors are not all cached yet: run `prepare` again later")
    shop, created, pid = d["shop"], d["created"], d["product_id"]
    train_rows = np.flatnonzero(np.isin(shop, TRAIN_SHOPS) & (created < CUTOFF))
    index = np.flatnonzero((shop == INDEX_SHOP) & (created >= CUTOFF))
    hidden = np.flatnonzero(shop == HIDDEN_SHOP)
    scaler = NumericScaler.fit(d["numeric_raw"][train_rows])
    x = assemble_features(
        image=d.get("image_emb"),
        text=d["text_emb"],
        numeric=scaler.transform(d["numeric_raw"]),
        features=list(feats),
    )
    match_cfg = MatchConfig().resolved(feats)
    print(f"features {'+'.join(feats)}; {len(train_rows)} training offers, index {len(index)}, "
          f"{HIDDEN_SHOP} {len(hidden)} offers; TPR {args.tpr} FPR {args.fpr}")  # fmt: skip
    header = "| seed | model | training offers | test AUCPR@1 | test R@1 | review-half R@1 |"
    print(header + "\n|---|---|---|---|---|---|")
    summary = []
    for seed in (int(s) for s in args.seeds.split(",")):
        rng = np.random.default_rng(seed)
        perm = rng.permutation(hidden)
        review, test = np.sort(perm[: len(perm) // 2]), np.sort(perm[len(perm) // 2 :])
        cfg = TrainConfig(seed=seed, epochs=args.epochs)

        def fit(rows, labels, negatives=None, *, cfg=cfg):
            t = time.perf_counter()
            res = train_projection(
                features=x[rows], product_ids=labels, config=cfg, hard_negatives=negatives
            )
            return res.head.project(x), time.perf_counter() - t

        def report(name, vec, n_rows, seconds, *, seed=seed, test=test, review=review):
            m = search_and_evaluate(d, vec, test, index, match_cfg)
            r = search_and_evaluate(d, vec, review, index, match_cfg)
            print(f"| {seed} | {name} | {n_rows} | {m['AUCPR']:.3f} | {m['R@1']:.3f} | "
                  f"{r['R@1']:.3f} | ({seconds:.0f} s)", flush=True)  # fmt: skip
            return m

        vec0, s0 = fit(train_rows, [p or None for p in pid[train_rows]])
        m0 = report("round 0 (without dune)", vec0, len(train_rows), s0)

        # route the review half with round 0's model; simulated validators judge every row
        res = retrieval.search(
            query_vecs=vec0[review], index_vecs=vec0[index], config=match_cfg,
            query_keys=list(d["brand_key"][review]), index_keys=list(d["brand_key"][index]),
            **({"query_texts": list(d["text"][review]), "index_texts": list(d["text"][index])}
               if match_cfg.text_weight else {}),
        )  # fmt: skip
        rows = [
            (int(q), [int(index[j]) for j in res.indices[n][: args.k] if j >= 0])
            for n, q in enumerate(review)
        ]
        rows = [(q, shown) for q, shown in rows if shown]  # no candidate: nothing to review
        decided, n_judgements = judge_rows(
            rows, pid=pid, tpr=args.tpr, fpr=args.fpr, rng=random.Random(seed)
        )
        verdicts = [
            v
            for q, shown, choice in decided
            for v in verdicts_of_review(query_offer_id=q, shown=shown, choice=choice)
        ]
        n_wrong = sum(
            (v.verdict == ACCEPTED) != (pid[v.query_offer_id] == pid[v.candidate_offer_id])
            for v in verdicts
        )
        # round 1: product ids of the training shops + the verdicts (dune's ids stay hidden)
        extra = sorted({o for v in verdicts for o in (v.query_offer_id, v.candidate_offer_id)})
        rows1 = np.concatenate([train_rows, np.setdiff1d(extra, train_rows)])
        pos = {int(o): i for i, o in enumerate(rows1)}
        ids = [pid[o] or None if i < len(train_rows) else None for i, o in enumerate(rows1)]
        pairs = {
            kind: [
                (pos[v.query_offer_id], pos[v.candidate_offer_id])
                for v in verdicts
                if (v.verdict == ACCEPTED) == (kind == "accepted")
            ]
            for kind in ("accepted", "rejected")
        }
        labels = build_labels(
            n=len(rows1),
            product_ids=ids,
            accepted_pairs=pairs["accepted"],
            rejected_pairs=pairs["rejected"],
        )
        c = labels.counts
        print(f"|  | verdicts: {len(decided)} rows, {n_judgements} judgements "
              f"({n_judgements * args.seconds_per_judgement:.0f} validator-seconds), "
              f"{c['accepted_pairs']} accepted / {c['rejected_pairs']} rejected pairs "
              f"({n_wrong} wrong) | | | | |")  # fmt: skip
        vec1, s1 = fit(rows1, labels.groups, labels.hard_negatives)
        m1 = report("round 1 (+ verdicts)", vec1, len(rows1), s1)
        if args.ablation:
            vec1b, s1b = fit(rows1, labels.groups)
            report("round 1, no hard negatives", vec1b, len(rows1), s1b)

        # ceiling: the review half's hidden product ids (queries + their true index matches)
        review_pids = {pid[q] for q in review if pid[q]}
        truth_idx = [int(i) for i in index if pid[i] in review_pids]
        rows_c = np.concatenate([train_rows, review, truth_idx])
        vecc, sc = fit(rows_c, [p or None for p in pid[rows_c]])
        mc = report("ceiling (dune ids of the review half)", vecc, len(rows_c), sc)
        summary.append((seed, m0["AUCPR"], m1["AUCPR"], mc["AUCPR"]))
        summary[-1] += (n_judgements * args.seconds_per_judgement,)
    for seed, a0, a1, ac, secs in summary:
        gap = ac - a0
        if gap > 0:
            said = f"round 1 closes {(a1 - a0) / gap:.0%} of the round-0 -> ceiling AUCPR gap"
        else:
            said = f"the ceiling does not beat round 0 (gap {gap:+.3f}); round 1 - round 0"
            said += f" = {a1 - a0:+.3f}"
        print(f"seed {seed}: {said} on the test half ({secs:.0f} validator-seconds)")


if __name__ == "__main__":
    main()
