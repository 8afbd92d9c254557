"""Agreement between validators: Krippendorff's alpha for nominal data.

Unlike Fleiss' kappa it accepts a different number of judgements per row, which early decision
("stop when two agree") produces.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence

import numpy as np


def krippendorff_alpha_nominal(units: Sequence[Sequence]) -> float:
    """Krippendorff's alpha for nominal data; each unit is the list of values it received.

    Units may have any number of values (pairable units have >= 2; the others are ignored).
    Coincidences: every ordered pair of values from different coders of unit u counts
    1/(m_u - 1); alpha = 1 - D_o/D_e with D_o the observed and D_e the expected share of
    disagreeing pairs (Krippendorff 2011, "Computing Krippendorff's alpha-reliability").
    """
    units = [list(u) for u in units if len(u) >= 2]
    if not units:
        return math.nan
    values = sorted({v for u in units for v in u}, key=str)
    index = {v: i for i, v in enumerate(values)}
    o = np.zeros((len(values), len(values)))
    by_size: dict[int, list[list[int]]] = {}
    for u in units:
        by_size.setdefault(len(u), []).append([index[v] for v in u])
    for m, coded in sorted(by_size.items()):
        # units of m values: every ordered pair of their values from different positions counts
        # once (the off-diagonal of c c^T - diag(c) per unit), in integers, then / (m - 1)
        arr = np.asarray(coded, dtype=np.intp)
        pairs = np.zeros_like(o, dtype=np.int64)
        for i in range(m):
            for j in range(m):
                if i != j:
                    np.add.at(pairs, (arr[:, i], arr[:, j]), 1)
        o += pairs / (m - 1)
    return _alpha_of_coincidences(o)


def krippendorff_alpha_nominal_pairs(pairs: Mapping[tuple[Hashable, Hashable], int]) -> float:
    """:func:`krippendorff_alpha_nominal` of units of two values each, given as counts: how
    many units received each (first value, second value). Equal, to the last bit, to
    ``krippendorff_alpha_nominal`` of the units themselves (the same integer coincidences), so
    a database can count the pairs instead of handing over every unit."""
    pairs = {ab: n for ab, n in pairs.items() if n}
    if not pairs:
        return math.nan
    values = sorted({v for ab in pairs for v in ab}, key=str)
    index = {v: i for i, v in enumerate(values)}
    counts = np.zeros((len(values), len(values)), dtype=np.int64)
    for (a, b), n in pairs.items():  # both orders of the unit's two values, n times
        counts[index[a], index[b]] += n
        counts[index[b], index[a]] += n
    o = np.zeros((len(values), len(values)))
    o += counts / 1
    return _alpha_of_coincidences(o)


def _alpha_of_coincidences(o: np.ndarray) -> float:
    """Alpha of a coincidence matrix ``o`` (values x values)."""
    n_c = o.sum(axis=1)
    n = n_c.sum()
    d_o = (n - np.trace(o)) / n
    d_e = (n * n - (n_c**2).sum()) / (n * (n - 1))
    if d_e == 0:
        return 1.0 if d_o == 0 else math.nan
    return float(1 - d_o / d_e)
