"""The routing plan: what routing a run does, decided on plain data.

The service (validation/services/routing.py) loads the facts, calls :func:`plan_routing` and
writes the plan: review rows created, reopened or closed, gold rows drawn, auto decisions. The
bands and thresholds it applies come from validation/routing.py. Values are those of the
ReviewRow / Decision choices (a test checks they match).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from validation.routing import AUTO, BANDS, REVIEW, band_of

ROW_REVIEW, ROW_GOLD = "review", "gold"
ROW_OPEN, ROW_CLOSED = "open", "closed"
TRUTH_UNKNOWN, TRUTH_MATCH, TRUTH_NONE = "unknown", "match", "none"


@dataclass(frozen=True)
class CandidateFacts:
    offer_id: int
    product_id: str | None
    similarity: float


@dataclass(frozen=True)
class QueryFacts:
    """One query of a run with its candidates by rank (at least one)."""

    query_offer_id: int
    product_id: str | None
    candidates: tuple[CandidateFacts, ...]


@dataclass(frozen=True)
class ExistingRow:
    pk: int
    query_offer_id: int
    kind: str
    status: str


@dataclass(frozen=True)
class NewRow:
    query_offer_id: int
    candidate_ids: list[int]
    top1_similarity: float
    kind: str
    truth: str
    truth_offer_id: int | None


@dataclass(frozen=True)
class RowUpdate:
    """New kind and status of an existing row; ``reroute``: it now belongs to the new routing."""

    pk: int
    kind: str
    status: str
    reroute: bool


@dataclass(frozen=True)
class AutoDecision:
    query_offer_id: int
    matched_offer_id: int
    similarity: float


@dataclass(frozen=True)
class RoutingPlan:
    bands: dict[str, int]
    new_review_rows: tuple[NewRow, ...]
    updates: tuple[RowUpdate, ...]
    closed_row_ids: tuple[int, ...]
    gold_rows: tuple[NewRow, ...]
    auto_decisions: tuple[AutoDecision, ...]
    n_gold: int  # gold rows of the run after the plan is applied


def truth_of(
    *, query_product_id: str | None, candidates: Sequence[CandidateFacts]
) -> tuple[str, int | None]:
    """Ground truth of a row from product ids: (truth, true candidate offer pk)."""
    if not query_product_id:
        return TRUTH_UNKNOWN, None
    for cand in candidates:
        if cand.product_id == query_product_id:
            return TRUTH_MATCH, cand.offer_id
    if candidates and all(c.product_id for c in candidates):
        return TRUTH_NONE, None
    return TRUTH_UNKNOWN, None


def _new_row(query: QueryFacts, *, kind: str) -> NewRow:
    truth, truth_offer = truth_of(query_product_id=query.product_id, candidates=query.candidates)
    return NewRow(
        query_offer_id=query.query_offer_id,
        candidate_ids=[c.offer_id for c in query.candidates],
        top1_similarity=query.candidates[0].similarity,
        kind=kind,
        truth=truth,
        truth_offer_id=truth_offer,
    )


def plan_routing(
    *,
    queries: Sequence[QueryFacts],
    existing: Sequence[ExistingRow],
    accept: float | None,
    review: float,
    human_decided: set[int] | frozenset[int],
    gold_pool_size: int,
    seed: int,
) -> RoutingPlan:
    """Route every query by its top-1 similarity.

    * review band: a new review row, or the existing row becomes a review row of this routing
      (reopened if it was closed);
    * outside it: an open review row is closed (judgements are kept); auto-band queries get an
      auto decision unless humans already decided them;
    * gold rows: queries outside the band without a row whose answer is known, drawn in a
      random order (``seed``) until the run has ``gold_pool_size`` gold rows.
    """
    rows = {r.query_offer_id: r for r in existing}
    kinds = {r.pk: r.kind for r in existing}
    bands = dict.fromkeys(BANDS, 0)
    new_rows: list[NewRow] = []
    updates: list[RowUpdate] = []
    closed: list[int] = []
    gold_pool: list[QueryFacts] = []
    auto: list[CandidateFacts] = []
    auto_queries: list[int] = []
    for query in queries:
        top1 = query.candidates[0]
        band = band_of(top1.similarity, accept=accept, review=review)
        bands[band] += 1
        row = rows.get(query.query_offer_id)
        if band == REVIEW:
            if row is None:
                new_rows.append(_new_row(query, kind=ROW_REVIEW))
            else:
                status = ROW_OPEN if row.status == ROW_CLOSED else row.status
                updates.append(RowUpdate(pk=row.pk, kind=ROW_REVIEW, status=status, reroute=True))
                kinds[row.pk] = ROW_REVIEW
            continue
        if band == AUTO:
            auto.append(top1)
            auto_queries.append(query.query_offer_id)
        if row is not None:
            if row.kind == ROW_REVIEW and row.status == ROW_OPEN:
                updates.append(
                    RowUpdate(pk=row.pk, kind=row.kind, status=ROW_CLOSED, reroute=False)
                )
                closed.append(row.pk)
        elif query.product_id:
            gold_pool.append(query)

    n_gold_have = sum(1 for kind in kinds.values() if kind == ROW_GOLD)
    random.Random(seed).shuffle(gold_pool)
    gold_rows: list[NewRow] = []
    for query in gold_pool:
        if n_gold_have + len(gold_rows) >= gold_pool_size:
            break
        row = _new_row(query, kind=ROW_GOLD)
        if row.truth != TRUTH_UNKNOWN:
            gold_rows.append(row)

    decisions = tuple(
        AutoDecision(query_offer_id=q, matched_offer_id=c.offer_id, similarity=c.similarity)
        for q, c in zip(auto_queries, auto, strict=True)
        if q not in human_decided
    )
    return RoutingPlan(
        bands=bands,
        new_review_rows=tuple(new_rows),
        updates=tuple(updates),
        closed_row_ids=tuple(closed),
        gold_rows=tuple(gold_rows),
        auto_decisions=decisions,
        n_gold=n_gold_have + len(gold_rows),
    )
