"""One-to-one assignment and the final ranking of shortlists.

Within a shop every offer is unique, so an index offer matches at most one query offer of a
shop. Greedy assignment over all shortlisted pairs by decreasing score; a query whose candidates
were all taken by better-scoring queries keeps its best candidate but its score drops by
``penalty``. The assigned candidate is rank 1; the other ranks follow by score, capped at the
rank-1 score so that scores never increase with rank. Scores are clipped to [-1, 1].
"""

from __future__ import annotations

import numpy as np

MAX_MUTUAL_ROUNDS = 64


def _sequential_greedy(
    live: np.ndarray,
    candidates: np.ndarray,
    open_q: np.ndarray,
    taken_items: np.ndarray,
    chosen: np.ndarray,
) -> None:
    rows, cols = np.nonzero(open_q[:, None] & np.isfinite(live))
    order = np.lexsort((cols, rows, -live[rows, cols]))
    for r, c in zip(rows[order].tolist(), cols[order].tolist(), strict=True):
        item = candidates[r, c]
        if open_q[r] and not taken_items[item]:
            chosen[r], open_q[r], taken_items[item] = c, False, True


def greedy_one_to_one(scores: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Greedy one-to-one assignment: ``scores`` / ``candidates`` (nq, K) shortlists (candidate
    -1 or score non-finite: none). Pairs are taken by decreasing score while neither side is
    taken yet (for distinct scores this is the greedy maximum-weight matching; computed as
    rounds of mutually best pairs). Returns the assigned shortlist column per query (-1: none).
    """
    nq = scores.shape[0]
    valid = (candidates >= 0) & np.isfinite(scores)
    live = np.where(valid, scores.astype(np.float64), -np.inf)
    chosen = np.full(nq, -1, dtype=np.int64)
    if not valid.any():
        return chosen
    n_items = int(candidates.max()) + 1
    # deterministic tie-breaking: lower query row, then lower column, wins
    rows = np.arange(nq)
    taken_items = np.zeros(n_items, dtype=bool)
    open_q = valid.any(axis=1)
    rounds = 0
    while open_q.any():
        rounds += 1
        if rounds > MAX_MUTUAL_ROUNDS:  # long chains: finish pair by pair (same result)
            _sequential_greedy(live, candidates, open_q, taken_items, chosen)
            break
        q_rows = rows[open_q]
        col = np.argmax(live[q_rows], axis=1)
        best = live[q_rows, col]
        ok = np.isfinite(best)
        open_q[q_rows[~ok]] = False
        q_rows, col, best = q_rows[ok], col[ok], best[ok]
        if not len(q_rows):
            break
        item = candidates[q_rows, col]
        # accept only mutually best pairs: the item's best live score over all open queries
        live_open = live[open_q]
        cand_open = candidates[open_q]
        fin = np.isfinite(live_open)
        item_best = np.full(n_items, -np.inf)
        np.maximum.at(item_best, cand_open[fin], live_open[fin])
        mutual = best >= item_best[item]
        q_rows, col, best, item = q_rows[mutual], col[mutual], best[mutual], item[mutual]
        # several queries tied on one item: the lowest row wins
        order = np.lexsort((q_rows, item))
        first = np.r_[True, item[order][1:] != item[order][:-1]] if len(order) else order
        win = order[first]
        chosen[q_rows[win]] = col[win]
        open_q[q_rows[win]] = False
        taken_items[item[win]] = True
        # remove taken items from every open shortlist
        taken_mask = taken_items[np.maximum(candidates, 0)] & (candidates >= 0)
        live[taken_mask] = -np.inf
    return chosen


def final_ranking(
    cand_idx: np.ndarray,
    cand_score: np.ndarray,
    cand_cos: np.ndarray,
    *,
    k: int,
    one_to_one: bool,
    penalty: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-k of shortlists (nq, K): (index rows, scores, cosines), each (nq, k), padded with
    -1 / -inf. With ``one_to_one`` the :func:`greedy_one_to_one` candidate is rank 1, an
    unassigned query's scores drop by ``penalty`` and scores never increase with rank (see the
    module doc). Scores are clipped to [-1, 1]."""
    nq = len(cand_idx)
    score = np.where(cand_idx >= 0, cand_score, -np.inf)
    order = np.argsort(-score, axis=1, kind="stable")
    score = np.take_along_axis(score, order, axis=1)
    idx = np.take_along_axis(cand_idx, order, axis=1)
    cos = np.take_along_axis(cand_cos, order, axis=1)
    if one_to_one and nq:
        chosen = greedy_one_to_one(score, idx)
        assigned = chosen >= 0
        # move the assigned candidate to rank 1, keep the others in score order
        first = np.where(np.arange(score.shape[1])[None, :] == chosen[:, None], 0, 1)
        new_order = np.argsort(first, axis=1, kind="stable")
        score = np.take_along_axis(score, new_order, axis=1)
        idx = np.take_along_axis(idx, new_order, axis=1)
        cos = np.take_along_axis(cos, new_order, axis=1)
        top = score[:, :1].copy()
        score = np.minimum(score, top)  # never above the rank-1 score
        score[~assigned] -= penalty
    score = np.where(np.isfinite(score), np.clip(score, -1.0, 1.0), -np.inf)
    k_eff = min(k, score.shape[1])
    out_idx = np.full((nq, k), -1, dtype=np.int64)
    out_sim = np.full((nq, k), -np.inf, dtype=np.float32)
    out_cos = np.full((nq, k), -np.inf, dtype=np.float32)
    out_idx[:, :k_eff] = idx[:, :k_eff]
    out_sim[:, :k_eff] = score[:, :k_eff]
    out_cos[:, :k_eff] = cos[:, :k_eff]
    return out_idx, out_sim, out_cos
