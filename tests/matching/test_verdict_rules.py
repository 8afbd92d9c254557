"""Pure rules of verdicts remembered across runs (matching/verdicts.py), without a database."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from matching import verdicts as v

T0 = datetime(2026, 1, 1, 12, 0)


def verdict(pk, q, c, verdict, source, *, minutes=0, qh="hq", ch="hc"):
    return v.Verdict(
        pk=pk,
        query_offer_id=q,
        candidate_offer_id=c,
        verdict=verdict,
        source=source,
        decided_at=T0 + timedelta(minutes=minutes),
        query_hash=qh,
        candidate_hash=ch,
    )


HASHES = {1: "hq", 2: "hq", 10: "hc", 11: "hc", 12: "hc", 20: "hc", 21: "hc"}


def test_a_verdict_is_stale_once_either_offer_changes():
    x = verdict(1, 1, 10, v.ACCEPTED, v.AUTO)
    assert v.is_valid(x, hashes=HASHES)
    assert not v.is_valid(x, hashes={**HASHES, 1: "changed"})
    assert not v.is_valid(x, hashes={**HASHES, 10: "changed"})
    assert not v.is_valid(x, hashes={1: "hq"})  # candidate offer deleted
    assert v.current_verdicts([x], hashes={**HASHES, 10: "changed"}) == {}


def test_human_beats_auto_even_when_older_and_newer_human_beats_older_human():
    auto_new = verdict(1, 1, 10, v.ACCEPTED, v.AUTO, minutes=50)
    human_old = verdict(2, 1, 10, v.REJECTED, v.HUMAN, minutes=0)
    assert v.current_verdicts([auto_new, human_old], hashes=HASHES)[(1, 10)] is human_old
    human_new = verdict(3, 1, 10, v.ACCEPTED, v.HUMAN, minutes=10)
    cur = v.current_verdicts([human_new, auto_new, human_old], hashes=HASHES)
    assert cur[(1, 10)] is human_new
    # a stale human verdict does not count: the valid auto one does
    stale_human = verdict(4, 1, 10, v.REJECTED, v.HUMAN, minutes=90, qh="old")
    assert v.current_verdicts([stale_human, auto_new], hashes=HASHES)[(1, 10)] is auto_new


def test_reuse_decides_accepted_queries_and_drops_rejected_candidates():
    cur = v.current_verdicts(
        [
            verdict(1, 1, 10, v.ACCEPTED, v.AUTO),  # query 1: decided
            verdict(2, 2, 20, v.REJECTED, v.HUMAN),  # query 2: rank-1 candidate rejected
            verdict(3, 3, 12, v.REJECTED, v.HUMAN),  # query 3: everything rejected
            verdict(4, 3, 11, v.REJECTED, v.HUMAN),
        ],
        hashes={**HASHES, 3: "hq"},
    )
    out = v.reuse(queries={1: [10, 11], 2: [20, 21], 3: [11, 12], 4: [10, 11]}, current=cur)
    assert set(out.accepted) == {1} and out.accepted[1].candidate_offer_id == 10
    assert out.remaining == {2: [21], 4: [10, 11]}
    assert set(out.all_rejected) == {3}
    assert out.n_rejected_dropped == 3
    assert v.decided_queries(cur) == {1, 2, 3}


def test_an_accepted_pair_outside_this_runs_candidates_still_decides_the_query():
    cur = v.current_verdicts([verdict(1, 1, 12, v.ACCEPTED, v.HUMAN)], hashes=HASHES)
    out = v.reuse(queries={1: [10, 11]}, current=cur)
    assert out.accepted[1].candidate_offer_id == 12 and not out.remaining


def test_verdicts_of_a_review_row():
    got = v.verdicts_of_review(query_offer_id=1, shown=[10, 11, 12], choice=11)
    assert [(x.candidate_offer_id, x.verdict, x.source) for x in got] == [
        (10, v.REJECTED, v.HUMAN),
        (11, v.ACCEPTED, v.HUMAN),
        (12, v.REJECTED, v.HUMAN),
    ]
    none = v.verdicts_of_review(query_offer_id=1, shown=[10, 11], choice=None)
    assert {x.verdict for x in none} == {v.REJECTED}
    with pytest.raises(ValueError, match="not among the shown"):
        v.verdicts_of_review(query_offer_id=1, shown=[10], choice=99)


def test_a_superseded_verdict_counts_nowhere():
    auto = v.Verdict(
        pk=1,
        query_offer_id=1,
        candidate_offer_id=10,
        verdict=v.ACCEPTED,
        source=v.AUTO,
        decided_at=T0,
        query_hash="hq",
        candidate_hash="hc",
        superseded=True,
    )
    assert v.current_verdicts([auto], hashes=HASHES) == {}
    assert v.strongest_by_pair([auto]) == {}
    assert v.decided_queries(v.current_verdicts([auto], hashes=HASHES)) == set()
    live = verdict(2, 1, 10, v.ACCEPTED, v.AUTO, minutes=-5)
    assert v.strongest_by_pair([auto, live]) == {(1, 10): live}


def test_oriented_turns_a_pair_the_way_it_is_stored():
    new = v.verdicts_of_review(query_offer_id=10, shown=[1, 2], choice=2)
    out = v.oriented(new, existing={(1, 10)})  # (1, 10) stored: 1 was the run's query
    assert [(x.query_offer_id, x.candidate_offer_id, x.verdict) for x in out] == [
        (1, 10, v.REJECTED),
        (10, 2, v.ACCEPTED),  # not stored either way: as asked
    ]
    both = v.oriented(new, existing={(1, 10), (10, 1)})
    assert (both[0].query_offer_id, both[0].candidate_offer_id) == (10, 1)  # stored both ways


def superseded(pk, q, c, *, by, minutes=0, qh="hq", ch="hc"):
    return v.Verdict(
        pk=pk,
        query_offer_id=q,
        candidate_offer_id=c,
        verdict=v.ACCEPTED,
        source=v.AUTO,
        decided_at=T0 + timedelta(minutes=minutes),
        query_hash=qh,
        candidate_hash=ch,
        superseded=True,
        superseded_by=by,
    )


def test_a_superseded_acceptance_is_an_implicit_rejection_while_the_human_verdict_is_valid():
    # query 1 was auto-accepted to 10; validators then accepted 2 (query 1's shop) with 10
    human = v.Verdict(
        pk=5,
        query_offer_id=2,
        candidate_offer_id=10,
        verdict=v.ACCEPTED,
        source=v.HUMAN,
        decided_at=T0 + timedelta(minutes=30),
        query_hash="hq",
        candidate_hash="hc",
        votes_for=3,
        votes_total=3,
    )
    auto = superseded(1, 1, 10, by=human)
    assert v.offers_of([auto]) == {1, 2, 10}
    cur = v.current_verdicts([auto], hashes=HASHES)
    implied = cur[(1, 10)]
    assert (implied.verdict, implied.source, implied.superseded) == (v.REJECTED, v.HUMAN, True)
    assert implied.decided_at == human.decided_at and implied.votes_total == 3
    # the pair is dropped from query 1's candidates: never auto-accepted, never shown again
    out = v.reuse(queries={1: [10, 11]}, current=cur)
    assert out.remaining == {1: [11]} and not out.accepted and out.n_rejected_dropped == 1
    # ... but query 1 is not decided: nobody said what it is (match --new-only matches it)
    assert v.decided_queries(cur) == set()
    # an automatic acceptance of the pair in a later run does not beat it (human over auto)
    later_auto = verdict(9, 1, 10, v.ACCEPTED, v.AUTO, minutes=90)
    assert v.current_verdicts([later_auto, auto], hashes=HASHES)[(1, 10)].verdict == v.REJECTED
    assert v.strongest_by_pair([later_auto, auto])[(1, 10)].verdict == v.REJECTED
    # a newer human acceptance of the pair itself beats it
    newer_human = verdict(10, 1, 10, v.ACCEPTED, v.HUMAN, minutes=60)
    assert v.current_verdicts([auto, newer_human], hashes=HASHES)[(1, 10)] is newer_human


def test_the_implicit_rejection_goes_stale_with_either_verdict():
    human = verdict(5, 2, 10, v.ACCEPTED, v.HUMAN, minutes=30)
    auto = superseded(1, 1, 10, by=human)
    # the superseding pair's offer 2 changed: the human verdict is stale, so is the rejection
    assert v.current_verdicts([auto], hashes={**HASHES, 2: "edited"}) == {}
    # the superseded pair's own offer changed
    assert v.current_verdicts([auto], hashes={**HASHES, 1: "edited"}) == {}
    out = v.reuse(
        queries={1: [10, 11]}, current=v.current_verdicts([auto], hashes={**HASHES, 2: "edited"})
    )
    assert out.remaining == {1: [10, 11]}  # asked again (and may be auto-accepted again)
    # products: staleness does not matter there, the pair stays separated
    assert v.strongest_by_pair([auto])[(1, 10)].verdict == v.REJECTED
    # not superseded any more (the human verdict was withdrawn): an acceptance again
    restored = v.Verdict(**{**auto.__dict__, "superseded": False, "superseded_by": None})
    assert v.current_verdicts([restored], hashes=HASHES)[(1, 10)].verdict == v.ACCEPTED
    assert v.implicit_rejection(restored) is None
