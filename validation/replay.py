"""Aggregation replay: the stored judgements of a run under other decision rules (pure numpy).

The paper (§5) "simulated different judgment aggregation rules"; here they are replayed on the
votes a run actually collected, each row's judgements in their recorded order, stopping where
the rule would have stopped, and scored against ground truth where it is known (gold rows,
synthetic runs):

* ``majority``: the full majority of ``required`` judgements (extra ones on ties), every
  judgement asked;
* ``stop_when_two_agree``: the same majority with early decision (validation/aggregation.py):
  stop as soon as no further judgement can change the outcome; same decisions, fewer votes;
* ``unanimous``: a candidate is accepted only when all judgements pick it; stops at the first
  disagreement (extra judgements cannot make it unanimous);
* ``dawid_skene``: validator-weighted: the Dawid–Skene model (1979) fitted by EM on all the
  run's judgements: each validator has a confusion matrix over the answer classes (candidate
  rank 1..k or none), the row's answer is the most probable class given every vote on it. It
  uses every stored judgement of the row.

A rule can only use the votes that were collected: a row with fewer stored judgements than the
rule would have asked for is left undecided (e.g. ``majority`` on rows where two agreeing
judgements already decided the row under early decision).

Per rule: rows replayed (rows with at least one judgement), decided, undecided, judgements
spent per replayed row, and on decided rows with ground truth TP/FN/FP/TN, TPR, FPR, LR+ and the
precision of accepted rows (the share of accepted candidates that are the true match).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from validation import aggregation, quality

RULES: dict[str, str] = {
    "majority": "majority, every judgement asked",
    "stop_when_two_agree": "majority, early decision (stop when two agree)",
    "unanimous": "unanimous (stops at the first disagreement)",
    "dawid_skene": "validator-weighted (Dawid–Skene EM, all judgements)",
}


@dataclass(frozen=True)
class RowResult:
    decided: bool
    choice: str  # "" when undecided
    used: int  # judgements spent


def _sequential(
    choices: Sequence[str], *, rule: str, required: int, max_extra: int, early: bool
) -> RowResult:
    out, used = aggregation.run_process(
        choices, rule=rule, required=required, max_extra=max_extra, early=early
    )
    return RowResult(out.decided, out.choice if out.decided else "", used)


# --------------------------------------------------------------------------- Dawid–Skene


def dawid_skene(
    *,
    rows: Sequence[quality.RowFacts],
    judgements: Sequence[quality.JudgementFacts],
    max_iter: int = 100,
    tol: float = 1e-4,
    smoothing: float = 0.01,
) -> dict[int, str]:
    """The Dawid–Skene answer (candidate offer id as string, or "none") of every row that has
    judgements. Classes: candidate rank 0..k-1 and none (k); a row cannot be of a rank it has
    no candidate for. Initialised from each row's vote shares; EM until the class posteriors
    move less than ``tol``; confusion rows and class priors smoothed by ``smoothing``."""
    by_pk = {r.pk: r for r in rows}
    k = max((len(r.candidate_ids) for r in rows), default=0)
    n_cls = k + 1
    row_ids = sorted({j.row_id for j in judgements})
    if not row_ids:
        return {}
    r_index = {pk: i for i, pk in enumerate(row_ids)}
    validators = sorted({j.validator for j in judgements})
    v_index = {v: i for i, v in enumerate(validators)}
    ri = np.empty(len(judgements), dtype=int)
    vi = np.empty(len(judgements), dtype=int)
    li = np.empty(len(judgements), dtype=int)
    for n, j in enumerate(judgements):
        ids = [str(x) for x in by_pk[j.row_id].candidate_ids]
        ri[n], vi[n] = r_index[j.row_id], v_index[j.validator]
        li[n] = ids.index(j.choice) if j.choice in ids else k
    allowed = np.zeros((len(row_ids), n_cls), dtype=bool)
    for pk, i in r_index.items():
        allowed[i, : len(by_pk[pk].candidate_ids)] = True
        allowed[i, k] = True
    vl = vi * n_cls + li  # (validator, given class) as one index
    n_vl = len(validators) * n_cls
    # init: vote shares
    post = np.zeros((len(row_ids), n_cls))
    np.add.at(post, (ri, li), 1.0)
    post /= post.sum(axis=1, keepdims=True)
    for _ in range(max_iter):
        # M-step: priors and confusion matrices pi[v, true, given]
        prior = post.sum(axis=0) + smoothing
        prior /= prior.sum()
        pi = np.full((len(validators), n_cls, n_cls), smoothing)
        for z in range(n_cls):  # pi[v, z, l] += posterior of class z on rows v judged as l
            pi[:, z, :] += np.bincount(vl, weights=post[ri, z], minlength=n_vl).reshape(
                len(validators), n_cls
            )
        pi /= pi.sum(axis=2, keepdims=True)
        # E-step: log posterior of each row's class
        logp = np.tile(np.log(prior), (len(row_ids), 1))
        log_pi = np.log(pi)
        for z in range(n_cls):
            logp[:, z] += np.bincount(ri, weights=log_pi[vi, z, li], minlength=len(row_ids))
        logp[~allowed] = -np.inf
        logp -= logp.max(axis=1, keepdims=True)
        new = np.exp(logp)
        new /= new.sum(axis=1, keepdims=True)
        delta = float(np.abs(new - post).max())
        post = new
        if delta < tol:
            break
    out = {}
    for pk, i in r_index.items():
        cls = int(np.argmax(post[i]))
        out[pk] = aggregation.NONE if cls == k else str(by_pk[pk].candidate_ids[cls])
    return out


# --------------------------------------------------------------------------- the replay


def _score(rows: Sequence[quality.RowFacts], results: dict[int, RowResult], *, rule: str) -> dict:
    replayed = [r for r in rows if r.pk in results]
    decided = [r for r in replayed if results[r.pk].decided]
    with_truth = [r for r in decided if r.truth != quality.TRUTH_UNKNOWN]
    codes = [quality.code_of(r, results[r.pk].choice) for r in with_truth]
    accepted = [
        results[r.pk].choice == quality.answer_of(truth=r.truth, truth_offer_id=r.truth_offer_id)
        for r in with_truth
        if results[r.pk].choice not in ("", aggregation.NONE)
    ]
    rates = quality.confusion(codes)
    used = sum(results[r.pk].used for r in replayed)
    return {
        "rule": rule,
        "label": RULES[rule],
        "n_rows": len(replayed),
        "decided": len(decided),
        "undecided": len(replayed) - len(decided),
        "votes_per_row": used / len(replayed) if replayed else math.nan,
        "votes": used,
        "n_truth": len(with_truth),
        "tp": rates.tp,
        "fn": rates.fn,
        "fp": rates.fp,
        "tn": rates.tn,
        "tpr": rates.tpr,
        "fpr": rates.fpr,
        "lr_plus": rates.lr_plus,
        "n_accepted": len(accepted),
        "precision": sum(accepted) / len(accepted) if accepted else math.nan,
    }


def replay(
    *,
    rows: Sequence[quality.RowFacts],
    judgements: Sequence[quality.JudgementFacts],
    required: int = 3,
    max_extra: int = 2,
    rules: Sequence[str] = tuple(RULES),
) -> list[dict]:
    """Score each rule on the run's stored judgements (active ones, ordered by row and, within a
    row, in recorded order). Returns one dict per rule (see the module docstring)."""
    unknown = [r for r in rules if r not in RULES]
    if unknown:
        raise ValueError(f"unknown replay rule {unknown[0]!r}; known: {', '.join(RULES)}")
    votes: dict[int, list[str]] = defaultdict(list)
    for j in judgements:
        votes[j.row_id].append(j.choice)
    out = []
    for rule in rules:
        if rule == "dawid_skene":
            answers = dawid_skene(rows=rows, judgements=judgements)
            results = {pk: RowResult(True, answers[pk], len(votes[pk])) for pk in answers}
        else:
            base, early = {
                "majority": ("majority", False),
                "stop_when_two_agree": ("majority", True),
                "unanimous": ("unanimous", True),
            }[rule]
            results = {
                pk: _sequential(
                    choices, rule=base, required=required, max_extra=max_extra, early=early
                )
                for pk, choices in votes.items()
            }
        out.append(_score(rows, results, rule=rule))
    return out
