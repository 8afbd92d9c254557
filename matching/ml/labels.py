"""Training labels from several sources: catalogue product ids and validators' verdicts.

The paper trains on product ids. A shop without them can still be trained on with the labels its
review produced: pairs validators accepted are positives, candidates they rejected are hard
negatives. This module turns those facts into what the training loop consumes (plain Python):

* a group id per offer (offers of one group are positives of each other; ``None``: no known
  positive), the connected components of a union-find over "same product id", "accepted pair"
  and "same product cluster" edges;
* hard negatives per offer (positions of offers a validator rejected as its match), which the
  batch sampler (:class:`matching.ml.training.ProductBatchSampler`) puts into the same batch as
  the offer's group, so the contrastive denominator contains them. A rejection between two
  offers the positives put in one group contradicts them: it is dropped and counted.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

PRODUCT_IDS, VERDICTS = "product_ids", "verdicts"
LABEL_SOURCES = (PRODUCT_IDS, VERDICTS)


def parse_label_sources(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"product_ids,verdicts"`` (or a list) -> ("product_ids", "verdicts"), in canonical order;
    None or empty -> ("product_ids",). Unknown names raise ValueError."""
    if value is None:
        return (PRODUCT_IDS,)
    parts = value.split(",") if isinstance(value, str) else list(value)
    names = {p.strip().lower() for p in parts if p and p.strip()}
    unknown = sorted(names - set(LABEL_SOURCES))
    if unknown:
        raise ValueError(
            f"unknown label source(s) {', '.join(unknown)}; choose from {', '.join(LABEL_SOURCES)}"
        )
    if not names:
        return (PRODUCT_IDS,)
    return tuple(s for s in LABEL_SOURCES if s in names)


def _missing(value: Hashable | None) -> bool:
    return value is None or value == "" or (isinstance(value, float) and np.isnan(value))


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:  # path compression
            self.parent[i], i = root, self.parent[i]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


@dataclass
class TrainingLabels:
    """``groups[i]``: offer i's group (a string "g<n>") or None; ``hard_negatives[i]``: sorted
    positions of the offers rejected as i's match (both directions); ``counts``: what each
    source gave."""

    groups: list[str | None]
    hard_negatives: dict[int, tuple[int, ...]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def n_grouped(self) -> int:
        return sum(g is not None for g in self.groups)


def build_labels(
    *,
    n: int,
    product_ids: Sequence[Hashable | None] | None = None,
    accepted_pairs: Iterable[tuple[int, int]] = (),
    clusters: Sequence[Hashable | None] | None = None,
    rejected_pairs: Iterable[tuple[int, int]] = (),
) -> TrainingLabels:
    """Group ids and hard negatives for ``n`` offers (positions 0..n-1).

    ``product_ids``: catalogue ids (missing: None/""/NaN); ``accepted_pairs``: positions of
    accepted (query, candidate) pairs; ``clusters``: a product-cluster key per offer (None: in no
    cluster); ``rejected_pairs``: positions of rejected pairs. Groups of a single offer are None.
    """
    for name, seq in (("product_ids", product_ids), ("clusters", clusters)):
        if seq is not None and len(seq) != n:
            raise ValueError(f"{name} must have one entry per offer ({len(seq)} != {n})")
    uf = _UnionFind(n)
    counts = {
        "product_id_offers": 0,
        "accepted_pairs": 0,
        "cluster_offers": 0,
        "rejected_pairs": 0,
        "rejections_contradicted": 0,
    }
    for key, seq in (("product_id_offers", product_ids), ("cluster_offers", clusters)):
        if seq is None:
            continue
        first: dict[Hashable, int] = {}
        members: dict[Hashable, int] = {}
        for i, value in enumerate(seq):
            if _missing(value):
                continue
            members[value] = members.get(value, 0) + 1
            if value in first:
                uf.union(first[value], i)
            else:
                first[value] = i
        counts[key] = sum(m for m in members.values() if m > 1)
    for a, b in accepted_pairs:
        _check(a, b, n)
        if a != b:
            uf.union(a, b)
            counts["accepted_pairs"] += 1
    roots = [uf.find(i) for i in range(n)]
    size: dict[int, int] = {}
    for r in roots:
        size[r] = size.get(r, 0) + 1
    # strings: never falsy, unlike group 0 (callers test ids with ``if pid``)
    groups = [f"g{r}" if size[r] > 1 else None for r in roots]
    negatives: dict[int, set[int]] = {}
    for a, b in rejected_pairs:
        _check(a, b, n)
        if a == b:
            continue
        if roots[a] == roots[b]:
            counts["rejections_contradicted"] += 1
            continue
        counts["rejected_pairs"] += 1
        negatives.setdefault(a, set()).add(b)
        negatives.setdefault(b, set()).add(a)
    counts["groups"] = len({g for g in groups if g is not None})
    counts["grouped_offers"] = sum(g is not None for g in groups)
    counts["offers_with_hard_negatives"] = len(negatives)
    return TrainingLabels(
        groups=groups,
        hard_negatives={i: tuple(sorted(v)) for i, v in sorted(negatives.items())},
        counts=counts,
    )


def _check(a: int, b: int, n: int) -> None:
    if not (0 <= a < n and 0 <= b < n):
        raise ValueError(f"pair ({a}, {b}) outside the {n} offers")


def restrict_negatives(
    hard_negatives: dict[int, Sequence[int]], positions: Sequence[int]
) -> dict[int, tuple[int, ...]]:
    """Hard negatives re-indexed to a subset of the offers (``positions``, in their new order);
    pairs with an end outside the subset are dropped (held-out offers stay unseen)."""
    new_of = {int(p): j for j, p in enumerate(positions)}
    out: dict[int, tuple[int, ...]] = {}
    for i, negs in hard_negatives.items():
        j = new_of.get(int(i))
        if j is None:
            continue
        kept = tuple(sorted(new_of[int(k)] for k in negs if int(k) in new_of))
        if kept:
            out[j] = kept
    return out
