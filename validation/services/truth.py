"""Ground truth from a file: load a --truth CSV and set the truth of a run's rows from it.

Without a file, a row's truth (ReviewRow.truth, truth_offer) is decided at routing time from
the catalogue's product ids (validation/routing.py: truth_of). ``apply_truth`` re-decides
every row of the run with the file's products first (validation/truth_file.py: row_truth) and
marks the rows ``truth_source="file"``; the simulated validators, the quality report and the
validators' feedback read the stored truth, so they all agree. Rows that a later routing adds
get the catalogue's truth until the file is applied again (simulate_validators --truth does
so before judging, every time).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from django.db import transaction

from matching import selectors as matching_selectors
from matching.models import MatchRun
from validation import truth_file
from validation.models import ReviewRow

FILE = "file"


def load_truth_file(*, path: str | Path) -> dict[int, str]:
    """Offer pk -> product id from a truth CSV; raises truth_file.TruthFileError (bad content)
    or OSError (cannot read). Nothing is written."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        entries = truth_file.parse(fh)
    keys = {(e.shop, e.offer_id) for e in entries}
    return truth_file.resolve(
        entries,
        known_shops=matching_selectors.existing_shop_names({shop for shop, _ in keys}),
        known=matching_selectors.offer_pks_by_key(keys),
    )


def apply_truth(*, run: MatchRun, truth: Mapping[int, str]) -> dict[str, int]:
    """Set the truth of every row of ``run`` from ``truth`` (offer pk -> product id), falling
    back to the catalogue's product id for offers the file does not name. Returns counts:
    rows, match, none, unknown, changed."""
    with transaction.atomic():
        rows = list(ReviewRow.objects.select_for_update().filter(run=run).order_by("pk"))
        pks = {r.query_offer_id for r in rows} | {c for r in rows for c in r.candidate_ids}
        catalogue = matching_selectors.product_ids_of(pks)
        counts: Counter[str] = Counter()
        for row in rows:
            new, new_offer = truth_file.row_truth(
                query_offer_id=row.query_offer_id,
                candidate_ids=row.candidate_ids,
                truth=truth,
                catalogue=catalogue,
            )
            if (new, new_offer) != (row.truth, row.truth_offer_id):
                counts["changed"] += 1
            row.truth, row.truth_offer_id, row.truth_source = new, new_offer, FILE
            counts[new] += 1
        ReviewRow.objects.bulk_update(
            rows, ["truth", "truth_offer", "truth_source"], batch_size=1000
        )
    return {
        "rows": len(rows),
        **{k: counts[k] for k in ("match", "none", "unknown", "changed")},
    }
