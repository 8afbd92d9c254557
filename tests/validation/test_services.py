"""Services: routing, leases, judgements, undo, skip, aggregation in the database, export."""

from __future__ import annotations

import csv
import random
from datetime import timedelta

import pytest
from django.utils import timezone

from validation import selectors, services
from validation.assignment import LeasePolicy
from validation.models import (
    Decision,
    Judgement,
    ReviewLease,
    ReviewRow,
    ReviewSettings,
    Routing,
)
from validation.simulation import pick_slot, simulate

from .conftest import make_user

NO_GOLD = LeasePolicy(gold_rate=0.0)


def _slot_for(row, user, choice):
    """The key a validator must press to choose `choice` (offer pk or 'none')."""
    if choice == "none":
        return 0
    order = services.slot_order_for(row=row, validator_id=user.pk)
    return order.index(row.candidate_ids.index(choice)) + 1


def _judge(user, choice=None, policy=NO_GOLD, run=None):
    lease = services.lease_next_row(validator=user, policy=policy, run=run)
    assert lease is not None
    row = lease.row
    if choice is None:
        choice = row.candidate_ids[0]
    services.judge_row(validator=user, lease_id=lease.pk, slot=_slot_for(row, user, choice))
    row.refresh_from_db()
    return row


# --------------------------------------------------------------------------- routing


def test_route_run_bands_rows_and_auto_decisions(run):
    s = services.route_run(run=run, accept=0.8, review=0.5)
    rows = ReviewRow.objects.filter(run=run, kind="review")
    assert s["n_auto"] + s["n_review"] + s["n_dropped"] == 40
    assert rows.count() == s["n_review"] > 0
    assert all(0.5 <= r.top1_similarity < 0.8 for r in rows)
    assert len(rows[0].candidate_ids) == 3
    auto = Decision.objects.filter(run=run, source="auto")
    assert auto.count() == s["n_auto"]
    assert all(d.similarity >= 0.8 for d in auto)
    # every synthetic offer has a product id: rows have ground truth; gold rows come from outside
    assert not rows.filter(truth="unknown").exists()
    gold = ReviewRow.objects.filter(run=run, kind="gold")
    assert gold.count() == s["n_gold"] > 0
    assert all(not 0.5 <= g.top1_similarity < 0.8 for g in gold)
    assert Routing.objects.get(run=run, is_current=True).n_review == s["n_review"]


def test_truth_of_row(run):
    services.route_run(run=run, accept=None, review=0.0)
    for row in ReviewRow.objects.filter(run=run).select_related("query_offer"):
        from matching.models import Offer

        pids = [Offer.objects.get(pk=i).product_id for i in row.candidate_ids]
        if row.query_offer.product_id in pids:
            assert row.truth == "match"
            assert row.truth_offer_id == row.candidate_ids[pids.index(row.query_offer.product_id)]
        else:
            assert row.truth == "none" and row.truth_offer_id is None


def test_route_suggests_thresholds(run):
    s = services.route_run(run=run)
    assert s["suggested"]
    assert s["review"] <= min(r.top1_similarity for r in ReviewRow.objects.filter(run=run))


def test_route_without_pr_curve_falls_back(run):
    run.pr_curve = {}
    run.save()
    s = services.route_run(run=run)
    assert s["accept"] is None and s["n_auto"] == 0
    assert s["n_dropped"] == 4  # below the 10th percentile of 40 queries


def test_rerouting_keeps_judgements_and_closes_rows(run, validators):
    services.route_run(run=run, accept=None, review=0.0)
    row = _judge(validators[0])
    sims = sorted(r.top1_similarity for r in ReviewRow.objects.filter(run=run))
    # move the judged row out of the review band
    s = services.route_run(run=run, accept=None, review=row.top1_similarity + 1e-9)
    row.refresh_from_db()
    assert row.status == "closed"
    assert Judgement.objects.filter(row=row).count() == 1
    assert s["n_review_rows_closed"] == sum(1 for x in sims if x <= row.top1_similarity)
    assert services.lease_next_row(validator=validators[1], policy=NO_GOLD).row_id != row.pk
    # bring it back
    services.route_run(run=run, accept=None, review=0.0)
    row.refresh_from_db()
    assert row.status == "open" and row.n_judgements == 1


def test_human_decision_beats_auto_after_rerouting(run, validators):
    services.route_run(run=run, accept=None, review=0.0)
    row = None
    for v in validators[:3]:
        row = _judge(v, choice="none") if row is None else _judge_row(v, row, "none")
    assert row.status == "decided"
    services.route_run(run=run, accept=0.0, review=0.0)  # everything auto-accepted now
    d = Decision.objects.get(run=run, query_offer=row.query_offer)
    assert d.source == "human" and d.matched_offer is None


def _judge_row(user, row, choice):
    # lease until we get `row` (partly judged rows come first, so it is the next one)
    lease = services.lease_next_row(validator=user, policy=NO_GOLD)
    assert lease.row_id == row.pk
    services.judge_row(validator=user, lease_id=lease.pk, slot=_slot_for(row, user, choice))
    row.refresh_from_db()
    return row


# --------------------------------------------------------------------------- leases and judgements


def test_lease_is_stable_and_partly_judged_rows_come_first(run, validators):
    services.route_run(run=run, accept=None, review=0.0)
    a, b = validators[:2]
    lease = services.lease_next_row(validator=a, policy=NO_GOLD)
    assert services.lease_next_row(validator=a, policy=NO_GOLD).pk == lease.pk
    services.judge_row(validator=a, lease_id=lease.pk, slot=1)
    assert services.lease_next_row(validator=b, policy=NO_GOLD).row_id == lease.row_id


def test_never_twice_and_never_more_than_n(run, validators, cfg):
    services.route_run(run=run, accept=None, review=0.0)
    seen = {v.pk: set() for v in validators}
    for _ in range(30):
        for v in validators:
            lease = services.lease_next_row(validator=v, policy=NO_GOLD)
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
    services.route_run(run=run, accept=None, review=0.0)
    leases = [services.lease_next_row(validator=v, policy=NO_GOLD) for v in validators[:3]]
    assert leases[0].row_id == leases[1].row_id != leases[2].row_id


def test_expired_lease_frees_the_row(run, validators, cfg):
    cfg.judgements_per_row = 1
    cfg.save()
    services.route_run(run=run, accept=None, review=0.0)
    a, b = validators[:2]
    lease = services.lease_next_row(validator=a, policy=NO_GOLD)
    later = timezone.now() + timedelta(minutes=cfg.lease_minutes + 1)
    lease_b = services.lease_next_row(validator=b, policy=NO_GOLD, now=later)
    assert lease_b.row_id == lease.row_id
    services.judge_row(validator=b, lease_id=lease_b.pk, slot=0, now=later)
    with pytest.raises(services.ReviewError, match="decided|expired"):
        services.judge_row(validator=a, lease_id=lease.pk, slot=0, now=later)


def test_expired_lease_still_accepted_when_nobody_took_the_row(run, validators, cfg):
    services.route_run(run=run, accept=None, review=0.0)
    lease = services.lease_next_row(validator=validators[0], policy=NO_GOLD)
    later = timezone.now() + timedelta(minutes=cfg.lease_minutes + 1)
    services.judge_row(validator=validators[0], lease_id=lease.pk, slot=2, now=later)


def test_cannot_judge_a_row_not_leased_to_you(run, validators):
    services.route_run(run=run, accept=None, review=0.0)
    a, b = validators[:2]
    lease = services.lease_next_row(validator=a, policy=NO_GOLD)
    with pytest.raises(services.ReviewError, match="not leased to you"):
        services.judge_row(validator=b, lease_id=lease.pk, slot=1)
    services.judge_row(validator=a, lease_id=lease.pk, slot=1)
    with pytest.raises(services.ReviewError):
        services.judge_row(validator=a, lease_id=lease.pk, slot=1)  # twice
    assert Judgement.objects.count() == 1


def test_judgement_records_who_when_choice_and_time(run, validators):
    services.route_run(run=run, accept=None, review=0.0)
    v = validators[0]
    lease = services.lease_next_row(validator=v, policy=NO_GOLD)
    later = lease.leased_at + timedelta(seconds=7)
    j = services.judge_row(validator=v, lease_id=lease.pk, slot=2, now=later)
    order = services.slot_order_for(row=lease.row, validator_id=v.pk)
    assert j.validator == v and j.created_at == later and j.slot == 2
    assert j.choice == str(lease.row.candidate_ids[order[1]])
    assert j.seconds_spent == pytest.approx(7)


def test_majority_decision_and_tie_gets_one_more(run, validators):
    services.route_run(run=run, accept=None, review=0.0)
    v1, v2, v3, v4 = validators[:4]
    row = _judge(v1, choice=None)
    c0, c1 = row.candidate_ids[0], row.candidate_ids[1]
    row = _judge_row(v2, row, c1)
    row = _judge_row(v3, row, "none")
    assert row.status == "open" and row.judgements_needed == 4 and row.decision == ""
    row = _judge_row(v4, row, c0)
    assert row.status == "open" and row.judgements_needed == 5  # 2 of 4 is no majority
    row = _judge_row(validators[4], row, c0)
    assert row.status == "decided" and row.decision == str(c0) and row.votes_for == 3
    d = Decision.objects.get(row=row)
    assert (d.source, d.matched_offer_id, d.votes_for, d.votes_total) == ("human", c0, 3, 5)


def test_undo_recomputes_and_releases_row_to_same_validator(run, validators):
    services.route_run(run=run, accept=None, review=0.0)
    v1, v2, v3 = validators[:3]
    row = _judge(v1, choice="none")
    row = _judge_row(v2, row, "none")
    row = _judge_row(v3, row, "none")
    assert row.status == "decided" and Decision.objects.filter(row=row).exists()
    nxt = services.lease_next_row(validator=v3, policy=NO_GOLD)  # v3 moved on
    services.undo_last_judgement(validator=v3)
    row.refresh_from_db()
    assert row.status == "open" and row.n_judgements == 2 and row.decision == ""
    assert not Decision.objects.filter(row=row).exists()
    assert not ReviewLease.objects.filter(pk=nxt.pk).exists()
    again = services.lease_next_row(validator=v3, policy=NO_GOLD)
    assert again.row_id == row.pk
    services.judge_row(
        validator=v3, lease_id=again.pk, slot=_slot_for(row, v3, row.candidate_ids[0])
    )
    row.refresh_from_db()
    assert row.status == "decided" and row.decision == "none"
    assert Judgement.objects.filter(row=row).count() == 4  # the undone one is kept
    assert Judgement.objects.filter(row=row, undone_at__isnull=False).count() == 1


def test_undo_window(run, validators, cfg):
    services.route_run(run=run, accept=None, review=0.0)
    _judge(validators[0])
    later = timezone.now() + timedelta(seconds=cfg.undo_seconds + 5)
    with pytest.raises(services.ReviewError, match="Nothing to undo"):
        services.undo_last_judgement(validator=validators[0], now=later)
    with pytest.raises(services.ReviewError):
        services.undo_last_judgement(validator=validators[1])


def test_skip_is_not_handed_out_again(run, validators):
    services.route_run(run=run, accept=None, review=0.0)
    v = validators[0]
    lease = services.lease_next_row(validator=v, policy=NO_GOLD)
    services.skip_row(validator=v, lease_id=lease.pk)
    assert services.lease_next_row(validator=v, policy=NO_GOLD).row_id != lease.row_id
    assert services.lease_next_row(validator=validators[1], policy=NO_GOLD).row_id == lease.row_id


def test_gold_rows_are_mixed_in(run, validators):
    services.route_run(run=run, accept=0.8, review=0.5)
    v = validators[0]
    always_gold = LeasePolicy(gold_rate=1.0)
    row = _judge(v, policy=always_gold)
    assert row.kind == "gold"
    row = _judge(v, policy=NO_GOLD)
    assert row.kind == "review"
    # the page data of a gold row has the same keys as that of a review row
    gold_lease = services.lease_next_row(validator=validators[1], policy=always_gold)
    page = selectors.review_page(lease=gold_lease, validator=validators[1])
    assert set(page) == {"lease_id", "query", "slots", "show_extras", "expires_at"}
    assert "price" not in page["query"]


def test_gold_rows_do_not_create_decisions(run, validators):
    services.route_run(run=run, accept=0.8, review=0.5)
    gold_lease = None
    for v in validators[:3]:
        gold_lease = services.lease_next_row(validator=v, policy=LeasePolicy(gold_rate=1.0))
        services.judge_row(validator=v, lease_id=gold_lease.pk, slot=0)
    row = ReviewRow.objects.get(pk=gold_lease.row_id)
    assert row.status == "decided"
    assert not Decision.objects.filter(row=row).exists()


# ------------------------------------------------------------------ quality, feedback, export


def test_simulated_validators_estimate(run):
    services.route_run(run=run, accept=0.8, review=0.3)
    n = simulate(run=run, validators=4, tpr=0.9, fpr=0.05, seed=2)
    assert n > 0
    assert not ReviewRow.objects.filter(run=run, status="open").exists()
    q = selectors.quality_report(run=run, n_boot=200)
    assert q["rows"]["gold_decided"] > 0
    assert 0 <= q["observed_precision"] <= 1
    assert q["judgements"]["tpr"] == pytest.approx(0.9, abs=0.15)
    assert q["validators"] and q["validators"][0]["name"].startswith("sim-")
    assert -1 <= q["fleiss_kappa"] <= 1


def test_pick_slot_follows_truth(run, validators):
    services.route_run(run=run, accept=None, review=0.0)
    row = ReviewRow.objects.filter(run=run, truth="match").first()
    order = services.slot_order_for(row=row, validator_id=1)
    slot = pick_slot(row=row, order=order, tpr=1.0, fpr=0.0, rng=random.Random(0))
    assert str(row.candidate_ids[order[slot - 1]]) == str(row.truth_offer_id)


def test_feedback_shows_own_mistakes_only(run, validators):
    services.route_run(run=run, accept=None, review=0.0)
    v1, v2 = validators[:2]
    row = ReviewRow.objects.filter(run=run, truth="match").order_by("id").first()
    wrong = next(c for c in row.candidate_ids if c != row.truth_offer_id)
    # lease the specific row for v1 by judging rows until it comes up
    for _ in range(40):
        lease = services.lease_next_row(validator=v1, policy=NO_GOLD)
        choice = wrong if lease.row_id == row.pk else "none"
        services.judge_row(validator=v1, lease_id=lease.pk, slot=_slot_for(lease.row, v1, choice))
        if lease.row_id == row.pk:
            break
    # answers appear only once the undo window has passed (feedback_rules)
    assert selectors.feedback_mistakes(validator=v1)["mistakes"] == []
    later = timezone.now() + timedelta(seconds=ReviewSettings.load().undo_seconds + 1)
    fb1 = selectors.feedback_mistakes(validator=v1, now=later)
    assert fb1["n"] >= 1 and fb1["mistakes"]
    assert selectors.feedback_mistakes(validator=v2)["n"] == 0


def test_export_csv(run, validators, tmp_path):
    services.route_run(run=run, accept=0.8, review=0.5)
    row = _judge(validators[0], choice=None)
    for v in validators[1:3]:
        row = _judge_row(v, row, row.candidate_ids[0])
    out = tmp_path / "out.csv"
    n, dropped = services.write_export(run=run, path=out)
    rows = list(csv.DictReader(out.open()))
    assert (
        len(rows)
        == n
        == Decision.objects.filter(run=run, matched_offer__isnull=False).count() - dropped
    )
    human = [r for r in rows if r["decision"] == "human"]
    assert len(human) == 1 and human[0]["votes_for"] == "3" and human[0]["votes_total"] == "3"
    assert all(r["decision"] in ("auto", "human") for r in rows)


def test_request_export_inline_and_as_job(
    run, admin_user, cfg, monkeypatch, django_capture_on_commit_callbacks
):
    services.route_run(run=run, accept=0.5, review=0.3)
    exp = services.request_export(run=run, user=admin_user)
    assert exp.status == "done" and exp.n_rows > 0
    cfg.export_inline_max = 0
    cfg.save()
    calls = []
    monkeypatch.setattr(
        "core.queues.enqueue", lambda queue, func, *a: calls.append((queue, func(*a)))
    )
    with django_capture_on_commit_callbacks(execute=True):
        exp2 = services.request_export(run=run, user=admin_user)
    assert calls and calls[0][0] == "export" and calls[0][1] == exp.n_rows
    exp2.refresh_from_db()
    assert exp2.status == "done"


def test_make_user_helper(db):
    assert make_user("x").groups.filter(name="Validators").exists()
