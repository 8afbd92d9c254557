"""Shortlist-relative features of first-stage discriminator probabilities (no Django).

The stacked pair discriminator (:mod:`matching.ml.discriminator`) scores every pair twice: a
first classifier on the pair features, then a second one that also sees how the pair's first
probability compares with the other candidates of the SAME shortlist. A query whose best two
candidates both look like its match (a product and its variant, or a product listed twice) is
less certain than one whose best candidate stands alone; a single pair's features cannot say
that. The columns are :data:`LIST_FEATURE_NAMES`.
"""

from __future__ import annotations

import numpy as np

LIST_FEATURE_NAMES = (
    "stage1",  # the first classifier's probability
    "stage1_margin_other",  # it minus the best OTHER candidate's of the list (0 if none)
    "stage1_gap_to_best",  # the list's best minus it
)


def list_features(list_ids: np.ndarray, p: np.ndarray) -> np.ndarray:
    """(n, 3) float32: the columns above for pairs ``p`` whose shortlist is ``list_ids``."""
    list_ids = np.asarray(list_ids)
    p = np.asarray(p, dtype=np.float64)
    out = np.full((len(p), len(LIST_FEATURE_NAMES)), np.nan, dtype=np.float32)
    if not len(p):
        return out
    _, lid = np.unique(list_ids, return_inverse=True)
    order = np.lexsort((-p, lid))  # by list, best first
    first = np.ones(len(order), dtype=bool)
    first[1:] = lid[order][1:] != lid[order][:-1]
    n = int(lid.max()) + 1
    best_row = np.empty(n, dtype=np.int64)
    best_row[lid[order][first]] = order[first]
    second = np.zeros(n)  # a candidate alone in its list stands out from "nothing" (0)
    second_pos = np.nonzero(~first)[0]
    runner = second_pos[first[second_pos - 1]]  # positions right after a list's best
    second[lid[order][runner]] = p[order][runner]
    best = p[best_row]
    is_best = best_row[lid] == np.arange(len(p))
    other = np.where(is_best, second[lid], best[lid])
    out[:, 0] = p
    out[:, 1] = p - other
    out[:, 2] = best[lid] - p
    return out
