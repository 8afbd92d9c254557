"""Lease policies: which pool and which rows a validator gets next (plain Python, no ORM).

The services apply a policy to the open rows a validator may judge (not judged or skipped by
them, with room for another judgement). A policy says

* in which order to try the pools (``review`` rows, ``gold`` rows, ``conflict`` rows): gold first
  with probability ``gold_rate``, so gold rows are mixed into the queue at that rate while gold
  rows remain; otherwise conflict rows (few, and they hold products back) before review rows;
  when the preferred pool is empty the next one is used;
* how to order rows inside a pool: ``ORDERINGS`` maps a rule name to model field names for
  ``order_by``; the default "partly judged first" hands out rows that already have judgements
  before fresh ones (rows finish sooner), then the oldest row first.

``LEASE_WINDOW`` is how many candidate rows one lease attempt locks (``SKIP LOCKED``).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

REVIEW = "review"
GOLD = "gold"
CONFLICT = "conflict"

# rows picked and locked per lease attempt (the first one that passes the re-check is leased)
LEASE_WINDOW = 3

# The default ordering is served by the partial index ``row_open_queue`` on ReviewRow
# (kind, -n_judgements, id WHERE status = 'open'): handing out a row walks that index.
ORDERINGS: dict[str, tuple[str, ...]] = {
    "partly_judged_first": ("-n_judgements", "id"),
    "fifo": ("id",),
}


@dataclass
class LeasePolicy:
    gold_rate: float = 0.1
    ordering: str = "partly_judged_first"
    rng: random.Random = field(default_factory=random.Random)

    def pools(self) -> tuple[str, ...]:
        if self.gold_rate > 0 and self.rng.random() < self.gold_rate:
            return (GOLD, CONFLICT, REVIEW)
        return (CONFLICT, REVIEW, GOLD)

    def order_by(self) -> tuple[str, ...]:
        return ORDERINGS[self.ordering]


def slot_order(*, row_id: int, validator_id: int, n: int, secret: str) -> list[int]:
    """Deterministic shuffle of candidate positions for one (row, validator).

    Returns ``order`` where ``order[slot - 1]`` is the rank index (0-based) shown in ``slot``.
    Seeded by a keyed hash so the order cannot be derived from ids seen on the page.
    """
    digest = hashlib.sha256(f"{secret}:{row_id}:{validator_id}".encode()).digest()
    order = list(range(n))
    random.Random(int.from_bytes(digest[:8], "big")).shuffle(order)
    return order


def choice_for_slot(*, slot: int, order: Sequence[int], candidate_ids: Sequence[int]) -> str:
    """Map a key (1..n, 0 = none) back to the stored choice (candidate offer id or "none")."""
    if slot == 0:
        return "none"
    if not 1 <= slot <= len(order):
        raise ValueError(f"slot {slot} out of range 0..{len(order)}")
    return str(candidate_ids[order[slot - 1]])
