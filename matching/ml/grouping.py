"""Offers grouped by product: the unit of training batches, validation and calibration splits."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np


def group_by_product(product_ids: Sequence[Hashable | None]) -> list[np.ndarray]:
    """Offer positions per product, in order of first appearance.

    A missing id (``None``, NaN or ``""``) makes the offer its own product (a lone offer).
    """
    groups: dict[Hashable, list[int]] = {}
    lone: list[list[int]] = []
    for i, pid in enumerate(product_ids):
        if pid is None or pid == "" or (isinstance(pid, float) and np.isnan(pid)):
            lone.append([i])
        else:
            groups.setdefault(pid, []).append(i)
    return [np.asarray(g, dtype=np.int64) for g in [*groups.values(), *lone]]
