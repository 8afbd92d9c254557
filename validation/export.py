"""Export of accepted matches: the one-to-one conflict rule and CSV writing (no ORM).

Conflict rule: within a run, at most one query offer per (query shop, matched offer). When
several accepted queries of the same shop point at the same matched offer, the one kept is
the first by

1. human-accepted before auto-accepted (a human confirmed it, auto is only a score),
2. more votes for, then higher similarity,
3. smaller query offer id (deterministic).

The others are left out of the export and counted as dropped conflicts.

Cells are written through core.csv_safe: text beginning with a formula character (=, +, -, @,
tab, carriage return) gets a leading apostrophe; the similarity is a number and is not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TextIO

from core import csv_safe

COLUMNS = (
    "query_offer_id",
    "query_shop",
    "matched_offer_id",
    "matched_shop",
    "similarity",
    "decision",
    "votes_for",
    "votes_total",
    "decided_at",
)


@dataclass(frozen=True)
class ExportRow:
    query_pk: int
    matched_pk: int
    query_offer_id: str
    query_shop: str
    matched_offer_id: str
    matched_shop: str
    similarity: float | None
    decision: str  # "auto" | "human"
    votes_for: int
    votes_total: int
    decided_at: str


def _priority(row: ExportRow) -> tuple:
    return (
        0 if row.decision == "human" else 1,
        -row.votes_for,
        -(row.similarity if row.similarity is not None else float("-inf")),
        row.query_pk,
    )


def one_to_one(rows: Iterable[ExportRow]) -> tuple[list[ExportRow], int]:
    """Keep one row per (query shop, matched offer); returns (kept sorted by query, n dropped)."""
    best: dict[tuple[str, int], ExportRow] = {}
    n = 0
    for row in rows:
        n += 1
        key = (row.query_shop, row.matched_pk)
        if key not in best or _priority(row) < _priority(best[key]):
            best[key] = row
    kept = sorted(best.values(), key=lambda r: (r.query_shop, r.query_offer_id))
    return kept, n - len(kept)


def write_csv(rows: Iterable[ExportRow], out: TextIO) -> int:
    writer = csv_safe.writer(out)
    writer.writerow(COLUMNS)
    n = 0
    for r in rows:
        writer.writerow(
            [
                r.query_offer_id,
                r.query_shop,
                r.matched_offer_id,
                r.matched_shop,
                "" if r.similarity is None else csv_safe.number(r.similarity, digits=6),
                r.decision,
                r.votes_for,
                r.votes_total,
                r.decided_at,
            ]
        )
        n += 1
    return n
