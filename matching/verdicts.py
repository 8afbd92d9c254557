"""Verdicts remembered across runs: pure rules (plain Python, no ORM).

A verdict is a decision on a pair (query offer, candidate offer): ``accepted`` or ``rejected``,
from ``auto`` (routing) or ``human`` (a decided review row). It stores both offers' content
hashes and is *valid* only while both offers still have them: it goes stale once either offer
changes. Among the valid verdicts of one pair, a human verdict beats an automatic one and a newer
one of the same source beats an older one (:func:`current_verdicts`).

An automatic acceptance *superseded* by a human acceptance it conflicted with (the query q was
auto-accepted to X, validators accepted Y of q's shop with X: matching/products.py,
human_overrides), or by a human rejection of its own pair (matching/services/loop.py: a decided
conflict row that turns down an acceptance held back as a conflict), no longer accepts anything: it
counts as an *implicit human rejection* of its pair (:func:`implicit_rejection`), as strong as a
human verdict made when it was superseded. For reuse it holds while both verdicts are valid (the
pair's offers and the superseding pair's offers keep their hashes), so X is dropped from q's
candidates like a rejected one (never auto-accepted, never shown again for q); once either goes
stale, or the human verdict is withdrawn (an undo clears the supersede), it is gone and the pair
can be asked again. For products (:func:`strongest_by_pair`) it separates the pair, stale or not,
like every verdict there. It does not make q *decided* (:func:`decided_queries`): nobody said what
q is, only what it is not.

A new run reuses them (:func:`reuse`):

* a query with a valid accepted pair is decided without review (the pair is kept as it is);
* a candidate the pair's current verdict rejects is dropped from the query's candidates, so it
  is never auto-accepted and never shown again for that query;
* a query whose candidates are all rejected is decided (no match) without review;
* the other queries keep their remaining candidates and are routed as usual: only they can be
  sent to review.

A query has a *valid decision* (``match --new-only`` skips it) when it has any valid verdict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

ACCEPTED, REJECTED = "accepted", "rejected"
AUTO, HUMAN = "auto", "human"
_SOURCE_RANK = {AUTO: 0, HUMAN: 1}


@dataclass(frozen=True)
class Verdict:
    pk: int
    query_offer_id: int
    candidate_offer_id: int
    verdict: str
    source: str
    decided_at: datetime
    query_hash: str
    candidate_hash: str
    run_id: int | None = None
    votes_for: int = 0
    votes_total: int = 0
    similarity: float | None = None
    # an automatic acceptance withdrawn by a human acceptance it conflicts with, and that
    # human verdict (None: not known, the superseded verdict then counts nowhere)
    superseded: bool = False
    superseded_by: Verdict | None = None

    @property
    def pair(self) -> tuple[int, int]:
        return self.query_offer_id, self.candidate_offer_id


def is_valid(verdict: Verdict, *, hashes: Mapping[int, str]) -> bool:
    """Both offers still exist with the content hashes the verdict was made on."""
    q = hashes.get(verdict.query_offer_id)
    c = hashes.get(verdict.candidate_offer_id)
    return (
        q is not None and c is not None and (q, c) == (verdict.query_hash, verdict.candidate_hash)
    )


def _strength(v: Verdict) -> tuple[int, datetime, int]:
    return _SOURCE_RANK[v.source], v.decided_at, v.pk


def offers_of(verdicts: Iterable[Verdict]) -> set[int]:
    """Every offer the verdicts name, the offers of the human verdicts that superseded them
    included (whose hashes :func:`current_verdicts` needs)."""
    out: set[int] = set()
    for v in verdicts:
        out.update(v.pair)
        if v.superseded_by is not None:
            out.update(v.superseded_by.pair)
    return out


def implicit_rejection(
    verdict: Verdict, *, hashes: Mapping[int, str] | None = None
) -> Verdict | None:
    """A superseded verdict read as the human rejection it implies: its pair, ``rejected``,
    ``human``, decided when the superseding human verdict was (with its votes), still marked
    ``superseded``. None when the verdict is not superseded or its superseding verdict is not
    known; with ``hashes``, also when either verdict is stale (reuse)."""
    by = verdict.superseded_by
    if not verdict.superseded or by is None:
        return None
    if hashes is not None and not (
        is_valid(verdict, hashes=hashes) and is_valid(by, hashes=hashes)
    ):
        return None
    return replace(
        verdict,
        verdict=REJECTED,
        source=HUMAN,
        decided_at=by.decided_at,
        votes_for=by.votes_for,
        votes_total=by.votes_total,
    )


def current_verdicts(
    verdicts: Iterable[Verdict], *, hashes: Mapping[int, str]
) -> dict[tuple[int, int], Verdict]:
    """The verdict that counts per pair: valid only; human over auto, then newer over older. A
    superseded verdict counts as an implicit human rejection while it and its superseding
    verdict are valid (``hashes`` must hold the superseding verdict's offers: offers_of)."""
    best: dict[tuple[int, int], Verdict] = {}
    for v in verdicts:
        if v.superseded:
            v = implicit_rejection(v, hashes=hashes)
            if v is None:
                continue
        elif not is_valid(v, hashes=hashes):
            continue
        have = best.get(v.pair)
        if have is None or _strength(v) > _strength(have):
            best[v.pair] = v
    return best


@dataclass(frozen=True)
class Reuse:
    """What the verdicts decide for a run's queries (query offer pk -> ...)."""

    accepted: dict[int, Verdict] = field(default_factory=dict)  # decided: this pair matches
    all_rejected: dict[int, list[Verdict]] = field(default_factory=dict)  # decided: no match
    remaining: dict[int, list[int]] = field(default_factory=dict)  # routed: candidates left
    n_rejected_dropped: int = 0  # candidates dropped because a verdict rejected them


def accepted_for_query(current: Mapping[tuple[int, int], Verdict]) -> dict[int, Verdict]:
    """Per query offer, its strongest valid accepted verdict (human, then newest)."""
    out: dict[int, Verdict] = {}
    for v in current.values():
        if v.verdict != ACCEPTED:
            continue
        have = out.get(v.query_offer_id)
        if have is None or _strength(v) > _strength(have):
            out[v.query_offer_id] = v
    return out


def reuse(
    *,
    queries: Mapping[int, Sequence[int]],
    current: Mapping[tuple[int, int], Verdict],
) -> Reuse:
    """Apply the current verdicts to a run's queries (query pk -> candidate pks by rank)."""
    accepted_by_query = accepted_for_query(current)
    out = Reuse()
    dropped = 0
    for q, cands in queries.items():
        acc = accepted_by_query.get(q)
        if acc is not None:
            out.accepted[q] = acc
            continue
        left, rejected = [], []
        for c in cands:
            v = current.get((q, c))
            if v is not None and v.verdict == REJECTED:
                rejected.append(v)
            else:
                left.append(c)
        dropped += len(rejected)
        if not left and rejected:
            out.all_rejected[q] = rejected
        else:
            out.remaining[q] = left
    return Reuse(
        accepted=out.accepted,
        all_rejected=out.all_rejected,
        remaining=out.remaining,
        n_rejected_dropped=dropped,
    )


def decided_queries(current: Mapping[tuple[int, int], Verdict]) -> set[int]:
    """Query offers with a valid decision (any valid verdict other than an implicit rejection:
    a query whose automatic match was withdrawn is not decided): ``match --new-only`` skips
    them."""
    return {v.query_offer_id for v in current.values() if not v.superseded}


@dataclass(frozen=True)
class NewVerdict:
    """A verdict to record (the service adds hashes and time)."""

    query_offer_id: int
    candidate_offer_id: int
    verdict: str
    source: str
    similarity: float | None = None


def verdicts_of_review(
    *, query_offer_id: int, shown: Sequence[int], choice: int | None
) -> list[NewVerdict]:
    """A decided review row: the chosen candidate accepted, every other shown one rejected
    (``choice`` None: validators said none matches, so all shown candidates are rejected)."""
    if choice is not None and choice not in shown:
        raise ValueError(f"chosen offer {choice} was not among the shown candidates {list(shown)}")
    return [
        NewVerdict(
            query_offer_id=query_offer_id,
            candidate_offer_id=c,
            verdict=ACCEPTED if c == choice else REJECTED,
            source=HUMAN,
        )
        for c in shown
    ]


def strongest_by_pair(verdicts: Iterable[Verdict]) -> dict[tuple[int, int], Verdict]:
    """Per unordered pair (smaller pk first), its strongest verdict, stale or not: what links
    products (staleness only decides whether a new run may reuse a verdict). A superseded
    verdict counts as its implicit human rejection (:func:`implicit_rejection`; nowhere when
    its superseding verdict is not known)."""
    best: dict[tuple[int, int], Verdict] = {}
    for v in verdicts:
        if v.superseded:
            v = implicit_rejection(v)
            if v is None:
                continue
        key = (min(v.pair), max(v.pair))
        have = best.get(key)
        if have is None or _strength(v) > _strength(have):
            best[key] = v
    return best


def oriented(
    verdicts: Sequence[NewVerdict], *, existing: Iterable[tuple[int, int]]
) -> list[NewVerdict]:
    """The verdicts with each pair turned the way it is already stored (``existing``: (query,
    candidate) pairs with a stored verdict), so a verdict on a pair that a run saw as (q, c)
    is found again by :func:`reuse` for query q (a conflict row may ask about it from c's side).
    A pair stored only the other way round is flipped; any other pair is left as it is."""
    have = set(existing)
    out = []
    for v in verdicts:
        q, c = v.query_offer_id, v.candidate_offer_id
        if (c, q) in have and (q, c) not in have:
            v = NewVerdict(
                query_offer_id=c,
                candidate_offer_id=q,
                verdict=v.verdict,
                source=v.source,
                similarity=v.similarity,
            )
        out.append(v)
    return out
