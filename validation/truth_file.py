"""Ground truth kept outside the catalogue: a CSV of offer_id, shop, product_id (plain Python).

``simulate_validators RUN --truth FILE.csv`` uses it so that the simulated validators and the
quality report can be checked on a catalogue imported without product ids (the production
case). Steps, each pure:

1. ``parse`` reads the file: header with the three columns (others are ignored), one offer per
   line, no empty cell, no offer twice with two different products. Errors name the line.
2. ``resolve`` maps each line to an offer pk (``known``: (shop, offer_id) -> pk, loaded by the
   service for the shops the file names); unknown shops and offers are errors with their lines.
3. ``row_truth`` decides one review row: the product of an offer is the file's when the file
   names it, else the catalogue's product id (which may be empty); then the usual rule
   (routing_plan.truth_of): the query's product among the candidates -> "match" (that candidate);
   all candidates known and none of them -> "none"; otherwise "unknown".
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from validation.routing_plan import CandidateFacts, truth_of

COLUMNS = ("offer_id", "shop", "product_id")
MAX_ERRORS_SHOWN = 20


class TruthFileError(ValueError):
    """The truth file cannot be used; ``errors`` lists every problem found (with lines)."""

    def __init__(self, errors: Sequence[str]):
        self.errors = list(errors)
        shown = self.errors[:MAX_ERRORS_SHOWN]
        more = len(self.errors) - len(shown)
        text = "; ".join(shown) + (f"; and {more} more" if more else "")
        super().__init__(f"truth file: {text}")


@dataclass(frozen=True)
class TruthLine:
    line: int  # 1-based line number in the file (the header is line 1)
    offer_id: str
    shop: str
    product_id: str


def parse(lines: Iterable[str]) -> list[TruthLine]:
    """The file's entries; raises TruthFileError listing every bad line."""
    reader = csv.DictReader(lines)
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise TruthFileError(
            [f"missing column(s) {', '.join(missing)} (line 1 must name {', '.join(COLUMNS)})"]
        )
    reader.fieldnames = header
    errors: list[str] = []
    seen: dict[tuple[str, str], TruthLine] = {}
    out: list[TruthLine] = []
    for rec in reader:
        line = reader.line_num
        values = {c: (rec.get(c) or "").strip() for c in COLUMNS}
        empty = [c for c in COLUMNS if not values[c]]
        if empty:
            errors.append(f"line {line}: empty {', '.join(empty)}")
            continue
        entry = TruthLine(line=line, **values)
        key = (entry.shop, entry.offer_id)
        first = seen.get(key)
        if first is not None:
            if first.product_id != entry.product_id:
                errors.append(
                    f"line {line}: offer {entry.offer_id!r} of shop {entry.shop!r} again, with "
                    f"product {entry.product_id!r} (line {first.line}: {first.product_id!r})"
                )
            continue
        seen[key] = entry
        out.append(entry)
    if errors:
        raise TruthFileError(errors)
    if not out:
        raise TruthFileError(["no entries (only a header)"])
    return out


def resolve(
    entries: Sequence[TruthLine],
    *,
    known_shops: Iterable[str],
    known: Mapping[tuple[str, str], int],
) -> dict[int, str]:
    """Offer pk -> product id; raises TruthFileError naming unknown shops and offers by line."""
    shops = set(known_shops)
    errors: list[str] = []
    out: dict[int, str] = {}
    for e in entries:
        if e.shop not in shops:
            errors.append(f"line {e.line}: unknown shop {e.shop!r}")
            continue
        pk = known.get((e.shop, e.offer_id))
        if pk is None:
            errors.append(f"line {e.line}: unknown offer {e.offer_id!r} of shop {e.shop!r}")
            continue
        out[pk] = e.product_id
    if errors:
        raise TruthFileError(errors)
    return out


def row_truth(
    *,
    query_offer_id: int,
    candidate_ids: Sequence[int],
    truth: Mapping[int, str],
    catalogue: Mapping[int, str | None],
) -> tuple[str, int | None]:
    """(truth, true candidate pk) of one row; the file's product beats the catalogue's."""

    def product(pk: int) -> str | None:
        return truth.get(pk) or catalogue.get(pk) or None

    return truth_of(
        query_product_id=product(query_offer_id),
        candidates=[
            CandidateFacts(offer_id=c, product_id=product(c), similarity=0.0) for c in candidate_ids
        ],
    )
