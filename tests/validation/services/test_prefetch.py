"""The prefetched lease (issue 10.3): the row after the one on the validator's screen is leased
ahead so its images load meanwhile; it obeys every leasing rule."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from validation.models import Judgement, ReviewLease, ReviewRow
from validation.services import leasing
from validation.services import review as services
from validation.services.routing import route_run

from ..helpers import NO_GOLD, slot_for


@pytest.fixture
def routed(run):
    route_run(run=run, accept=None, review=0.0)
    return run


def test_nothing_on_screen_nothing_prefetched(routed, validators):
    assert leasing.prefetch_next_lease(validator=validators[0], policy=NO_GOLD) is None
    assert not ReviewLease.objects.exists()


def test_prefetched_row_becomes_the_current_one_with_a_fresh_clock(routed, validators):
    v = validators[0]
    t0 = timezone.now()
    current = leasing.lease_next_row(validator=v, policy=NO_GOLD, now=t0)
    nxt = leasing.prefetch_next_lease(validator=v, policy=NO_GOLD, now=t0)
    assert nxt is not None and nxt.row_id != current.row_id
    # asking again gives the same lease; the screen still shows the current row
    assert leasing.prefetch_next_lease(validator=v, policy=NO_GOLD, now=t0).pk == nxt.pk
    assert leasing.lease_next_row(validator=v, policy=NO_GOLD, now=t0).pk == current.pk
    assert ReviewLease.objects.filter(validator=v).count() == 2
    t1 = t0 + timedelta(seconds=40)
    services.judge_row(validator=v, lease_id=current.pk, slot=1, now=t1)
    promoted = leasing.lease_next_row(validator=v, policy=NO_GOLD, now=t1)
    assert promoted.pk == nxt.pk
    assert promoted.leased_at == t1  # the time spent on it counts from now, not from t0
    t2 = t1 + timedelta(seconds=7)
    j = services.judge_row(validator=v, lease_id=promoted.pk, slot=0, now=t2)
    assert j.seconds_spent == pytest.approx(7.0)


def test_prefetched_lease_counts_against_the_row(routed, validators, cfg):
    """Never more judgements than a row needs: a prefetched lease holds its place like any."""
    cfg.early_decision = False
    cfg.judgements_per_row = 1
    cfg.save()
    ReviewRow.objects.update(judgements_needed=1)  # room for one judgement per row
    a, b = validators[:2]
    current = leasing.lease_next_row(validator=a, policy=NO_GOLD)
    nxt = leasing.prefetch_next_lease(validator=a, policy=NO_GOLD)
    other = leasing.lease_next_row(validator=b, policy=NO_GOLD)
    assert other.row_id not in {current.row_id, nxt.row_id}
    # b cannot judge a's prefetched row through a lease of their own either
    stolen = ReviewLease.objects.create(
        row_id=nxt.row_id,
        validator=b,
        leased_at=timezone.now() - timedelta(minutes=30),
        expires_at=timezone.now() - timedelta(minutes=20),
    )
    with pytest.raises(services.ReviewError, match="expired"):
        services.judge_row(validator=b, lease_id=stolen.pk, slot=1)


def test_prefetched_row_decided_meanwhile_is_never_shown(routed, validators, cfg):
    """Early decision: two others agree on the prefetched row; it is dropped, and a judgement
    sent through the stale lease is refused with nothing recorded."""
    cfg.early_decision = True
    cfg.judgements_per_row = 3
    cfg.save()
    a, b, c = validators[:3]
    current = leasing.lease_next_row(validator=a, policy=NO_GOLD)
    nxt = leasing.prefetch_next_lease(validator=a, policy=NO_GOLD)
    row = nxt.row
    now = timezone.now()
    for v in (b, c):
        lease = ReviewLease.objects.create(
            row=row, validator=v, leased_at=now, expires_at=now + timedelta(minutes=10)
        )
        services.judge_row(
            validator=v, lease_id=lease.pk, slot=slot_for(row, v, row.candidate_ids[0])
        )
    row.refresh_from_db()
    assert row.status == ReviewRow.Status.DECIDED
    with pytest.raises(services.ReviewError, match="already been decided"):
        services.judge_row(validator=a, lease_id=nxt.pk, slot=1)
    services.judge_row(validator=a, lease_id=current.pk, slot=1)
    shown = leasing.lease_next_row(validator=a, policy=NO_GOLD)
    assert shown.row_id not in {current.row_id, row.pk}
    assert not ReviewLease.objects.filter(pk=nxt.pk).exists()  # the stale lease is gone
    assert not Judgement.objects.filter(validator=a, row=row).exists()


def test_skip_shows_the_prefetched_row(routed, validators):
    v = validators[0]
    current = leasing.lease_next_row(validator=v, policy=NO_GOLD)
    nxt = leasing.prefetch_next_lease(validator=v, policy=NO_GOLD)
    services.skip_row(validator=v, lease_id=current.pk)
    assert leasing.lease_next_row(validator=v, policy=NO_GOLD).pk == nxt.pk
    # the skipped row is never prefetched for them again
    again = leasing.prefetch_next_lease(validator=v, policy=NO_GOLD)
    assert again.row_id not in {current.row_id, nxt.row_id}


def test_undo_drops_the_prefetched_lease_and_shows_the_undone_row(routed, validators):
    v = validators[0]
    current = leasing.lease_next_row(validator=v, policy=NO_GOLD)
    services.judge_row(validator=v, lease_id=current.pk, slot=1)
    shown = leasing.lease_next_row(validator=v, policy=NO_GOLD)
    leasing.prefetch_next_lease(validator=v, policy=NO_GOLD)
    services.undo_last_judgement(validator=v)
    leases = list(ReviewLease.objects.filter(validator=v))
    assert [lease.row_id for lease in leases] == [current.row_id]
    assert leasing.lease_next_row(validator=v, policy=NO_GOLD).row_id == current.row_id
    nxt = leasing.prefetch_next_lease(validator=v, policy=NO_GOLD)
    assert nxt.row_id != current.row_id
    assert shown.row_id != current.row_id
