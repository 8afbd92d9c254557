"""services/review.py: leases, judgements, aggregation in the database, undo, skip, gold rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from validation.assignment import LeasePolicy
from validation.models import Decision, Judgement, ReviewLease, ReviewRow
from validation.selectors.review import review_page, slot_order_for
from validation.services import leasing
from validation.services import review as services
from validation.services.routing import route_run

from ..conftest import make_user
from ..helpers import NO_GOLD, judge, judge_row, slot_for

# --------------------------------------------------------------------------- leases and judgements


def test_lease_is_stable_and_partly_judged_rows_come_first(run, validators):
    route_run(run=run, accept=None, review=0.0)
    a, b = validators[:2]
    lease = leasing.lease_next_row(validator=a, policy=NO_GOLD)
    assert leasing.lease_next_row(validator=a, policy=NO_GOLD).pk == lease.pk
    services.judge_row(validator=a, lease_id=lease.pk, slot=1)
    assert leasing.lease_next_row(validator=b, policy=NO_GOLD).row_id == lease.row_id


def test_never_twice_and_never_more_than_n(run, validators, cfg):
    route_run(run=run, accept=None, review=0.0)
    seen = {v.pk: set() for v in validators}
    for _ in range(30):
        for v in validators:
            lease = leasing.lease_next_row(validator=v, policy=NO_GOLD)
            if lease is None:
                continue
            assert lease.row_id not in seen[v.pk]
            seen[v.pk].add(lease.row_id)
            services.judge_row(validator=v, lease_id=lease.pk, slot=1)
    for row in ReviewRow.objects.filter(run=run):
        n = Judgement.objects.filter(row=row, undone_at__isnull=True).count()
        assert n == row.n_judgements <= row.judgements_needed <= cfg.judgements_per_row + 2
    assert not ReviewRow.objects.filter(run=run, status="open").exists()


def test_lease_capacity_counts_live_leases(run, validators, cfg):
    cfg.judgements_per_row = 2
    cfg.save()
    route_run(run=run, accept=None, review=0.0)
    leases = [leasing.lease_next_row(validator=v, policy=NO_GOLD) for v in validators[:3]]
    assert leases[0].row_id == leases[1].row_id != leases[2].row_id


def test_expired_lease_frees_the_row(run, validators, cfg):
    cfg.judgements_per_row = 1
    cfg.save()
    route_run(run=run, accept=None, review=0.0)
    a, b = validators[:2]
    lease = leasing.lease_next_row(validator=a, policy=NO_GOLD)
    later = timezone.now() + timedelta(minutes=cfg.lease_minutes + 1)
    lease_b = leasing.lease_next_row(validator=b, policy=NO_GOLD, now=later)
    assert lease_b.row_id == lease.row_id
    services.judge_row(validator=b, lease_id=lease_b.pk, slot=0, now=later)
    with pytest.raises(services.ReviewError, match="decided|expired"):
        services.judge_row(validator=a, lease_id=lease.pk, slot=0, now=later)


def test_expired_lease_still_accepted_when_nobody_took_the_row(run, validators, cfg):
    route_run(run=run, accept=None, review=0.0)
    lease = leasing.lease_next_row(validator=validators[0], policy=NO_GOLD)
    later = timezone.now() + timedelta(minutes=cfg.lease_minutes + 1)
    services.judge_row(validator=validators[0], lease_id=lease.pk, slot=2, now=later)


def test_cannot_judge_a_row_not_leased_to_you(run, validators):
    route_run(run=run, accept=None, review=0.0)
    a, b = validators[:2]
    lease = leasing.lease_next_row(validator=a, policy=NO_GOLD)
    with pytest.raises(services.ReviewError, match="not leased to you"):
        services.judge_row(validator=b, lease_id=lease.pk, slot=1)
    services.judge_row(validator=a, lease_id=lease.pk, slot=1)
    with pytest.raises(services.ReviewError):
        services.judge_row(validator=a, lease_id=lease.pk, slot=1)  # twice
    assert Judgement.objects.count() == 1


def test_judgement_records_who_when_choice_and_time(run, validators):
    route_run(run=run, accept=None, review=0.0)
    v = validators[0]
    lease = leasing.lease_next_row(validator=v, policy=NO_GOLD)
    later = lease.leased_at + timedelta(seconds=7)
    j = services.judge_row(validator=v, lease_id=lease.pk, slot=2, now=later)
    order = slot_order_for(row=lease.row, validator_id=v.pk)
    assert j.validator == v and j.created_at == later and j.slot == 2
    assert j.choice == str(lease.row.candidate_ids[order[1]])
    assert j.seconds_spent == pytest.approx(7)


def test_majority_decision_and_tie_gets_one_more(run, validators):
    route_run(run=run, accept=None, review=0.0)
    v1, v2, v3, v4 = validators[:4]
    row = judge(v1, choice=None)
    c0, c1 = row.candidate_ids[0], row.candidate_ids[1]
    row = judge_row(v2, row, c1)
    row = judge_row(v3, row, "none")
    assert row.status == "open" and row.judgements_needed == 4 and row.decision == ""
    row = judge_row(v4, row, c0)
    assert row.status == "open" and row.judgements_needed == 5  # 2 of 4 is no majority
    row = judge_row(validators[4], row, c0)
    assert row.status == "decided" and row.decision == str(c0) and row.votes_for == 3
    d = Decision.objects.get(row=row)
    assert (d.source, d.matched_offer_id, d.votes_for, d.votes_total) == ("human", c0, 3, 5)


def test_undo_recomputes_and_releases_row_to_same_validator(run, validators):
    route_run(run=run, accept=None, review=0.0)
    v1, v2, v3 = validators[:3]
    row = judge(v1, choice="none")
    row = judge_row(v2, row, "none")  # two agree: decided early
    assert row.status == "decided" and Decision.objects.filter(row=row).exists()
    nxt = leasing.lease_next_row(validator=v2, policy=NO_GOLD)  # v2 moved on
    services.undo_last_judgement(validator=v2)
    row.refresh_from_db()
    assert row.status == "open" and row.n_judgements == 1 and row.decision == ""
    assert row.judgements_needed == 2
    assert not Decision.objects.filter(row=row).exists()
    assert not ReviewLease.objects.filter(pk=nxt.pk).exists()
    again = leasing.lease_next_row(validator=v2, policy=NO_GOLD)
    assert again.row_id == row.pk
    services.judge_row(
        validator=v2, lease_id=again.pk, slot=slot_for(row, v2, row.candidate_ids[0])
    )
    row.refresh_from_db()
    assert row.status == "open" and row.judgements_needed == 3  # disagreement: a third
    row = judge_row(v3, row, "none")
    assert row.status == "decided" and row.decision == "none"
    assert Judgement.objects.filter(row=row).count() == 4  # the undone one is kept
    assert Judgement.objects.filter(row=row, undone_at__isnull=False).count() == 1


def test_undo_window(run, validators, cfg):
    route_run(run=run, accept=None, review=0.0)
    judge(validators[0])
    later = timezone.now() + timedelta(seconds=cfg.undo_seconds + 5)
    with pytest.raises(services.ReviewError, match="Nothing to undo"):
        services.undo_last_judgement(validator=validators[0], now=later)
    with pytest.raises(services.ReviewError):
        services.undo_last_judgement(validator=validators[1])


def test_skip_is_not_handed_out_again(run, validators):
    route_run(run=run, accept=None, review=0.0)
    v = validators[0]
    lease = leasing.lease_next_row(validator=v, policy=NO_GOLD)
    services.skip_row(validator=v, lease_id=lease.pk)
    assert leasing.lease_next_row(validator=v, policy=NO_GOLD).row_id != lease.row_id
    assert leasing.lease_next_row(validator=validators[1], policy=NO_GOLD).row_id == lease.row_id


def test_gold_rows_are_mixed_in(run, validators):
    route_run(run=run, accept=0.8, review=0.5)
    v = validators[0]
    always_gold = LeasePolicy(gold_rate=1.0)
    row = judge(v, policy=always_gold)
    assert row.kind == "gold"
    row = judge(v, policy=NO_GOLD)
    assert row.kind == "review"
    # the page data of a gold row has the same keys as that of a review row
    gold_lease = leasing.lease_next_row(validator=validators[1], policy=always_gold)
    page = review_page(lease=gold_lease, validator=validators[1])
    assert set(page) == {"lease_id", "query", "slots", "show_extras", "expires_at", "conflict"}
    assert page["conflict"] is False  # gold and review rows read the same
    assert "price" not in page["query"]


def test_gold_rows_do_not_create_decisions(run, validators):
    route_run(run=run, accept=0.8, review=0.5)
    gold_lease = None
    for v in validators[:2]:  # two agree: decided
        gold_lease = leasing.lease_next_row(validator=v, policy=LeasePolicy(gold_rate=1.0))
        services.judge_row(validator=v, lease_id=gold_lease.pk, slot=0)
    row = ReviewRow.objects.get(pk=gold_lease.row_id)
    assert row.status == "decided"
    assert not Decision.objects.filter(row=row).exists()


def test_make_user_helper(db):
    assert make_user("x").groups.filter(name="Validators").exists()
