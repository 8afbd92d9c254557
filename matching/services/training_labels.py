"""Training labels from the database (issue 12): catalogue product ids and validators' verdicts.

``product_ids``: ``Offer.product_id``. ``verdicts``: what the review decided, across runs:

* only HUMAN verdicts (a review row decided by the aggregation rule); automatic acceptances
  are the model's own output and are never fed back;
* only the pair's current verdict (matching.verdicts.current_verdicts: valid content hashes,
  human over auto, newer over older), so an acceptance a later review rejected does not count;
* optionally only rows whose validators all meet a gold-accuracy floor. Who judged a row and
  how accurate they are is validation's business (matching never imports validation): the
  validation app registers the guard (:func:`register_review_row_guard`), which returns the
  ids of the review rows that pass; a caller may also pass those ids in itself;
* accepted pairs and the human-decided members of product clusters are positives (one
  union-find with the product ids, matching.ml.labels.build_labels); rejected candidates are
  hard negatives of their query, put into its training batch.

The pure part is matching/ml/labels.py; this module reads and counts.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from matching import loop_selectors
from matching import verdicts as vrules
from matching.ml import labels as ml_labels
from matching.models import PairVerdict, ProductMembership

ReviewRowGuard = Callable[[float], Collection[int]]
_guard: list[ReviewRowGuard] = []


def register_review_row_guard(guard: ReviewRowGuard) -> None:
    """Install the function that maps a gold-accuracy floor to the review row ids whose
    validators meet it (the validation app does this when it starts)."""
    _guard[:] = [guard]


def trusted_review_rows(*, min_gold_accuracy: float) -> set[int]:
    if not _guard:
        raise ValueError(
            "min_gold_accuracy needs the validation app (it knows the validators' gold accuracy)"
        )
    return set(_guard[0](min_gold_accuracy))


@dataclass(frozen=True)
class Labels:
    labels: ml_labels.TrainingLabels
    known: list[bool]  # offer's match status is known (calibration may use it as a query)
    report: dict


def _human_verdicts(offer_pks: Sequence[int]) -> tuple[list[vrules.Verdict], dict[int, int]]:
    """Verdicts on pairs among these offers (as facts) and pk -> review row id."""
    inside = set(offer_pks)
    ids = sorted(inside)
    facts, rows = [], {}
    fields = (
        "pk",
        "query_offer_id",
        "candidate_offer_id",
        "verdict",
        "source",
        "decided_at",
        "query_hash",
        "candidate_hash",
        "review_row_id",
    )
    for i in range(0, len(ids), 5000):
        qs = PairVerdict.objects.filter(query_offer_id__in=ids[i : i + 5000]).values_list(*fields)
        for pk, q, c, verdict, source, at, qh, ch, row in qs:
            if c not in inside:
                continue
            facts.append(
                vrules.Verdict(
                    pk=pk,
                    query_offer_id=q,
                    candidate_offer_id=c,
                    verdict=verdict,
                    source=source,
                    decided_at=at,
                    query_hash=qh,
                    candidate_hash=ch,
                )
            )
            if row is not None:
                rows[pk] = row
    return facts, rows


def load_labels(
    *,
    offers: Sequence,
    sources: Sequence[str],
    min_gold_accuracy: float | None = None,
    allowed_review_rows: Collection[int] | None = None,
) -> Labels:
    """Labels of ``offers`` (objects with ``pk``, ``product_id``, ``shop_id``) from ``sources``.

    ``min_gold_accuracy`` asks the registered guard for the review rows that pass;
    ``allowed_review_rows`` gives them directly (both: their intersection). Raises ValueError
    when the sources give no two offers a common label.
    """
    sources = ml_labels.parse_label_sources(sources)
    pks = [o.pk for o in offers]
    pos = {pk: i for i, pk in enumerate(pks)}
    report: dict = {"sources": list(sources), "min_gold_accuracy": min_gold_accuracy}
    product_ids = None
    if ml_labels.PRODUCT_IDS in sources:
        product_ids = [o.product_id or None for o in offers]
    accepted: list[tuple[int, int]] = []
    rejected: list[tuple[int, int]] = []
    clusters = None
    decided_queries: set[int] = set()
    if ml_labels.VERDICTS in sources:
        allowed = None if allowed_review_rows is None else set(allowed_review_rows)
        if min_gold_accuracy is not None:
            trusted = trusted_review_rows(min_gold_accuracy=min_gold_accuracy)
            allowed = trusted if allowed is None else allowed & trusted
        facts, row_of = _human_verdicts(pks)
        hashes = loop_selectors.offer_hashes(pks)
        current = vrules.current_verdicts(facts, hashes=hashes)
        skipped = {"verdicts_auto_skipped": 0, "verdicts_below_gold_floor": 0}
        for v in current.values():
            if v.source != vrules.HUMAN:
                skipped["verdicts_auto_skipped"] += 1
                continue
            if allowed is not None and row_of.get(v.pk) not in allowed:
                skipped["verdicts_below_gold_floor"] += 1
                continue
            pair = (pos[v.query_offer_id], pos[v.candidate_offer_id])
            (accepted if v.verdict == vrules.ACCEPTED else rejected).append(pair)
            decided_queries.add(pair[0])
        report.update(skipped)
        report["verdicts_stale"] = len({v.pair for v in facts}) - len(current)
        endpoints = {i for pair in accepted for i in pair}
        clusters = [None] * len(pks)
        members = ProductMembership.objects.filter(decided_by=PairVerdict.Source.HUMAN)
        for i in range(0, len(pks), 5000):
            for offer_id, product_id in members.filter(offer_id__in=pks[i : i + 5000]).values_list(
                "offer_id", "product_id"
            ):
                # under a gold floor a membership counts only with one of its allowed pairs
                if allowed is None or pos[offer_id] in endpoints:
                    clusters[pos[offer_id]] = product_id
    labels = ml_labels.build_labels(
        n=len(pks),
        product_ids=product_ids,
        accepted_pairs=accepted,
        clusters=clusters,
        rejected_pairs=rejected,
    )
    report.update(labels.counts)
    if labels.counts["groups"] == 0:
        raise ValueError(
            f"no training labels: the label sources ({', '.join(sources)}) give no two offers "
            "a common product (no product ids, no accepted verdicts)"
        )
    if sources == (ml_labels.PRODUCT_IDS,):  # the catalogue's ids are the whole truth
        return Labels(labels=labels, known=[True] * len(pks), report=report)
    shops_with_ids = {o.shop_id for o in offers if o.product_id} if product_ids else set()
    known = [
        g is not None or i in decided_queries or offers[i].shop_id in shops_with_ids
        for i, g in enumerate(labels.groups)
    ]
    return Labels(labels=labels, known=known, report=report)
