"""The plan of a blocked search: which (query rows, index rows) searches cover every query's
brand block exactly once (see :func:`plan_blocked_searches`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .brands import block_keys

Search = tuple[np.ndarray, np.ndarray]  # (query rows, index rows), both ascending


def plan_blocked_searches(
    *, query_keys: Sequence[str], index_keys: Sequence[str], threshold: float
) -> tuple[list[Search], list[Search]]:
    """The searches that cover every query's block exactly once, as (query rows, index rows).

    Returns (searches, unbranded). ``searches``: branded queries and branded index offers: each
    is a group of index brand keys with the branded queries whose blocks contain exactly these
    keys: index keys compared with the same queries are searched together, so each branded
    index offer is in one search and each (query, index offer) pair of a block is compared once.
    ``unbranded``: :func:`unbranded_searches`.
    """
    searches = brand_block_searches(
        query_keys=query_keys, index_keys=index_keys, threshold=threshold
    )
    return searches, unbranded_searches(query_keys=query_keys, index_keys=index_keys)


def brand_block_searches(
    *, query_keys: Sequence[str], index_keys: Sequence[str], threshold: float
) -> list[Search]:
    """The branded part of :func:`plan_blocked_searches` (the part that needs brand matching)."""
    ni = len(index_keys)
    blocks = block_keys(query_keys=query_keys, index_keys=index_keys, threshold=threshold)
    codes = {key: n for n, key in enumerate(dict.fromkeys(index_keys))}
    index_code = np.fromiter(map(codes.__getitem__, index_keys), dtype=np.int64, count=ni)
    by_code = np.argsort(index_code, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(index_code, minlength=len(codes)))]
    query_rows: dict[str, list[int]] = {}
    for row, key in enumerate(query_keys):
        query_rows.setdefault(key, []).append(row)

    def rows_of(q_keys: Sequence[str]) -> np.ndarray:
        return np.sort(np.concatenate([np.asarray(query_rows[k], np.int64) for k in q_keys]))

    # index key -> query keys whose block holds it; index keys grouped by that set
    holders: dict[str, list[str]] = {}
    for q_key, i_keys in blocks.items():
        if q_key:
            for i_key in i_keys:
                holders.setdefault(i_key, []).append(q_key)
    groups: dict[tuple[str, ...], list[int]] = {}
    for i_key, q_keys in holders.items():
        if i_key:
            groups.setdefault(tuple(sorted(q_keys)), []).append(codes[i_key])
    searches: list[Search] = []
    for q_keys, i_codes in groups.items():
        parts = [by_code[bounds[c] : bounds[c + 1]] for c in i_codes]
        x_rows = np.sort(np.concatenate(parts)) if len(parts) > 1 else parts[0]
        searches.append((rows_of(q_keys), x_rows.astype(np.int64)))
    return searches


def unbranded_searches(*, query_keys: Sequence[str], index_keys: Sequence[str]) -> list[Search]:
    """The unbranded part of a blocked search (0 to 2 searches), which needs no brand matching:
    the unbranded queries with the whole index, and every branded query (each block holds the
    unbranded index offers, see :func:`~matching.ml.brands.block_keys`) with the unbranded
    index offers."""
    nq, ni = len(query_keys), len(index_keys)
    q_unbranded = np.fromiter((not key for key in query_keys), dtype=bool, count=nq)
    x_rows = np.flatnonzero(np.fromiter((not key for key in index_keys), dtype=bool, count=ni))
    out: list[Search] = []
    if q_unbranded.any():
        out.append((np.flatnonzero(q_unbranded), np.arange(ni)))
    if len(x_rows) and not q_unbranded.all():
        out.append((np.flatnonzero(~q_unbranded), x_rows))
    return out
