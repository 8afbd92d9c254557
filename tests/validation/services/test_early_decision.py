"""Early decision (stop when two agree) through the real services: leasing, judging, undo."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from validation.models import Decision, Judgement, ReviewLease, ReviewRow, ReviewSettings
from validation.services import leasing
from validation.services import review as services
from validation.services.routing import route_run

from ..helpers import NO_GOLD, judge, judge_row, slot_for


def test_fresh_rows_need_two_judgements_and_three_without_early_decision(run, cfg):
    route_run(run=run, accept=None, review=0.0)
    assert set(ReviewRow.objects.filter(run=run).values_list("judgements_needed", flat=True)) == {2}
    cfg.early_decision = False
    cfg.save()
    ReviewRow.objects.filter(run=run).delete()
    route_run(run=run, accept=None, review=0.0)
    assert set(ReviewRow.objects.filter(run=run).values_list("judgements_needed", flat=True)) == {3}


def test_two_agreeing_judgements_decide_and_the_row_leaves_the_queue(run, validators):
    route_run(run=run, accept=None, review=0.0)
    v1, v2, v3 = validators[:3]
    row = judge(v1)
    row = judge_row(v2, row, row.candidate_ids[0])
    assert row.status == "decided" and row.decision == str(row.candidate_ids[0])
    d = Decision.objects.get(row=row)
    assert (d.matched_offer_id, d.votes_for, d.votes_total) == (row.candidate_ids[0], 2, 2)
    assert leasing.lease_next_row(validator=v3, policy=NO_GOLD).row_id != row.pk


def test_a_fresh_row_is_leased_to_two_validators_only(run, validators):
    route_run(run=run, accept=None, review=0.0)
    leases = [leasing.lease_next_row(validator=v, policy=NO_GOLD) for v in validators[:3]]
    assert leases[0].row_id == leases[1].row_id != leases[2].row_id


def test_disagreement_asks_for_a_third_judgement(run, validators):
    route_run(run=run, accept=None, review=0.0)
    v1, v2, v3 = validators[:3]
    row = judge(v1)
    row = judge_row(v2, row, "none")
    assert row.status == "open" and row.judgements_needed == 3
    row = judge_row(v3, row, "none")  # partly judged rows first: v3 gets it
    assert row.status == "decided" and row.decision == "none" and row.votes_for == 2
    assert Decision.objects.get(row=row).matched_offer_id is None


def test_full_majority_still_asks_every_judgement(run, validators, cfg):
    cfg.early_decision = False
    cfg.save()
    route_run(run=run, accept=None, review=0.0)
    row = judge(validators[0], choice="none")
    row = judge_row(validators[1], row, "none")
    assert row.status == "open" and row.judgements_needed == 3
    row = judge_row(validators[2], row, "none")
    assert row.status == "decided" and row.votes_for == 3


def test_a_judgement_on_a_row_decided_meanwhile_is_refused_and_not_recorded(run, validators):
    """A lease taken before early decision (leased when the row still needed three) outlives the
    decision: its judgement is refused with a clear message, the validator moves on."""
    cfg = ReviewSettings.load()
    cfg.early_decision = False
    cfg.save()
    route_run(run=run, accept=None, review=0.0)
    v1, v2, v3 = validators[:3]
    leases = [leasing.lease_next_row(validator=v, policy=NO_GOLD) for v in (v1, v2, v3)]
    assert len({lease.row_id for lease in leases}) == 1
    row = leases[0].row
    cfg.early_decision = True  # an admin switches early decision on
    cfg.save()
    for v, lease in zip((v1, v2), leases, strict=False):
        services.judge_row(
            validator=v, lease_id=lease.pk, slot=slot_for(row, v, row.candidate_ids[0])
        )
    row.refresh_from_db()
    assert row.status == "decided" and row.n_judgements == 2
    with pytest.raises(services.ReviewError, match="already been decided"):
        services.judge_row(validator=v3, lease_id=leases[2].pk, slot=0)
    assert Judgement.objects.filter(row=row).count() == 2
    row.refresh_from_db()
    assert row.decision == str(row.candidate_ids[0]) and row.n_judgements == 2
    # the stale lease is never shown again: v3 gets another row
    assert leasing.lease_next_row(validator=v3, policy=NO_GOLD).row_id != row.pk


def test_late_judgement_after_expiry_over_http_is_a_message_not_an_error(run, validators, cfg):
    route_run(run=run, accept=None, review=0.0)
    v1, v2, v3 = validators[:3]
    stale = leasing.lease_next_row(validator=v1, policy=NO_GOLD)
    row = stale.row
    later = timezone.now() + timedelta(minutes=cfg.lease_minutes + 1)
    for v in (v2, v3):  # v1's lease expired; two others take the row and agree
        lease = leasing.lease_next_row(validator=v, policy=NO_GOLD, now=later)
        assert lease.row_id == row.pk
        services.judge_row(validator=v, lease_id=lease.pk, slot=slot_for(row, v, "none"), now=later)
    row.refresh_from_db()
    assert row.status == "decided"
    client = Client()
    client.force_login(v1)
    resp = client.post(reverse("validation:judge"), {"lease": stale.pk, "slot": 1}, follow=True)
    assert resp.status_code == 200
    assert b"already been decided" in resp.content
    assert not Judgement.objects.filter(validator=v1).exists()
    assert ReviewLease.objects.get(validator=v1).row_id != row.pk  # the next row is shown


def test_undo_on_an_early_decided_row_reopens_it(run, validators):
    route_run(run=run, accept=None, review=0.0)
    v1, v2, v3 = validators[:3]
    row = judge(v1)
    row = judge_row(v2, row, row.candidate_ids[0])
    assert row.status == "decided"
    services.undo_last_judgement(validator=v2)
    row.refresh_from_db()
    assert (row.status, row.n_judgements, row.judgements_needed, row.decision) == (
        "open",
        1,
        2,
        "",
    )
    assert not Decision.objects.filter(row=row).exists()
    assert ReviewLease.objects.get(validator=v2).row_id == row.pk  # leased back to v2
    ReviewLease.objects.filter(validator=v2).delete()  # v2 leaves: the row is back in the queue
    row = judge_row(v3, row, "none")
    assert row.status == "open" and row.judgements_needed == 3
