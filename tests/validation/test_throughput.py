"""Throughput: the pure summary (validation/throughput.py), its selector and the admin view."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from validation import throughput
from validation.assignment import LeasePolicy
from validation.models import Judgement, ReviewRow
from validation.selectors.throughput import throughput_summary, week_start_of
from validation.services import leasing
from validation.services import review as services
from validation.services.routing import route_run

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)  # a Friday
DAY = NOW.replace(hour=0)
WEEK = DAY - timedelta(days=4)


def J(name, minutes_ago, seconds, gold=None):
    return throughput.JudgementFacts(
        validator=name,
        created_at=NOW - timedelta(minutes=minutes_ago),
        seconds_spent=seconds,
        gold_correct=gold,
    )


def test_summary_per_validator_queue_and_cost():
    js = [
        J("ann", 10, 4.0, gold=True),
        J("ann", 20, 6.0, gold=False),
        J("ann", 30, 8.0),
        J("ann", 60 * 30, 100.0),  # yesterday: this week, not today, not in the pace window
        J("bob", 5, 3.0, gold=True),
        J("bob", 60 * 24 * 6, 9.0),  # last week: ignored
    ]
    out = throughput.summary(
        judgements=js,
        now=NOW,
        day_start=DAY,
        week_start=WEEK,
        open_rows=10,
        votes_needed=24,
        accepted_matches=4,
        total_seconds=120.0,
    )
    by = {v.name: v for v in out["validators"]}
    assert (by["ann"].today, by["ann"].week, by["ann"].median_seconds) == (3, 4, 7.0)
    assert by["ann"].gold_accuracy == 0.5 and by["ann"].n_gold == 2
    assert (by["bob"].today, by["bob"].week, by["bob"].gold_accuracy) == (1, 1, 1.0)
    assert out["validators"][0].name == "ann"  # most judgements today first
    assert (out["today"], out["week"]) == (4, 5)
    assert out["gold_accuracy"] == pytest.approx(2 / 3)
    assert out["pace_per_hour"] == 4  # four judgements in the last hour
    assert out["hours_to_clear"] == pytest.approx(24 / 4)
    assert out["clear_at"] == NOW + timedelta(hours=6)
    assert out["seconds_per_accepted_match"] == 30.0


def test_summary_without_pace_or_matches():
    out = throughput.summary(
        judgements=[J("ann", 300, 5.0)],
        now=NOW,
        day_start=DAY,
        week_start=WEEK,
        open_rows=3,
        votes_needed=9,
        accepted_matches=0,
        total_seconds=5.0,
    )
    assert out["hours_to_clear"] is None and out["seconds_per_accepted_match"] is None
    empty = throughput.summary(
        judgements=[],
        now=NOW,
        day_start=DAY,
        week_start=WEEK,
        open_rows=0,
        votes_needed=0,
        accepted_matches=0,
        total_seconds=0.0,
    )
    assert empty["hours_to_clear"] == 0.0 and empty["median_seconds"] is None
    with pytest.raises(ValueError, match="week_start"):
        throughput.summary(
            judgements=[],
            now=NOW,
            day_start=NOW + timedelta(days=1),
            week_start=WEEK,
            open_rows=0,
            votes_needed=0,
            accepted_matches=0,
            total_seconds=0.0,
        )


def test_selector_counts_the_database(run, validators, cfg):
    route_run(run=run, accept=None, review=0.0)
    policy = LeasePolicy(gold_rate=0.0)
    for v in validators[:3]:
        for _ in range(2):
            lease = leasing.lease_next_row(validator=v, policy=policy)
            services.judge_row(validator=v, lease_id=lease.pk, slot=0)
    out = throughput_summary()
    assert out["today"] == out["week"] == 6 == Judgement.objects.count()
    assert {v.name: v.today for v in out["validators"]} == {"val1": 2, "val2": 2, "val3": 2}
    open_rows = ReviewRow.objects.filter(status="open")
    assert out["open_rows"] == open_rows.count()
    assert out["votes_needed"] == sum(r.judgements_needed - r.n_judgements for r in open_rows)
    assert out["pace_per_hour"] == 6
    assert out["hours_to_clear"] == pytest.approx(out["votes_needed"] / 6)


def test_selector_counts_equal_the_summary_of_every_judgement(run, validators, cfg):
    """The counts taken in the database give the figures the pure summary gives from one fact
    per judgement (today / this week / last week / the pace window, gold rows with a known
    answer, right or wrong, unknown truth, undone judgements)."""
    route_run(run=run, accept=None, review=0.0)
    policy = LeasePolicy(gold_rate=0.0)
    for v in validators[:4]:
        for _ in range(5):
            lease = leasing.lease_next_row(validator=v, policy=policy)
            services.judge_row(validator=v, lease_id=lease.pk, slot=0)
    rng = random.Random(11)
    now = timezone.now()
    for row in ReviewRow.objects.filter(judgements__isnull=False).distinct():
        truth = rng.choice(["match", "none", "unknown", "keep"])
        if truth != "keep":
            row.kind = ReviewRow.Kind.GOLD
            row.truth = truth
            row.truth_offer_id = row.candidate_ids[0] if truth == "match" else None
            row.save(update_fields=["kind", "truth", "truth_offer_id"])
    minutes = [5, 50, 59, 90, 60 * 20, 60 * 24 * 3, 60 * 24 * 9]
    for j in Judgement.objects.select_related("row"):
        Judgement.objects.filter(pk=j.pk).update(
            created_at=now - timedelta(minutes=rng.choice(minutes), seconds=rng.random()),
            seconds_spent=round(rng.uniform(1, 30), 3),
            choice=rng.choice([str(c) for c in j.row.candidate_ids] + ["none"]),
            undone_at=now if rng.random() < 0.15 else None,
        )
    day_start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    week_start = week_start_of(day_start)
    facts = [
        throughput.JudgementFacts(
            validator=j.validator.username,
            created_at=j.created_at,
            seconds_spent=j.seconds_spent,
            gold_correct=(
                None
                if j.row.kind != ReviewRow.Kind.GOLD or j.row.truth == ReviewRow.Truth.UNKNOWN
                else j.choice
                == (str(j.row.truth_offer_id) if j.row.truth == ReviewRow.Truth.MATCH else "none")
            ),
        )
        for j in Judgement.objects.filter(undone_at__isnull=True).select_related("row", "validator")
    ]
    assert any(f.gold_correct for f in facts) and any(f.gold_correct is False for f in facts)
    got = throughput_summary(now=now)
    want = throughput.summary(
        judgements=facts,
        now=now,
        day_start=day_start,
        week_start=week_start,
        open_rows=got["open_rows"],
        votes_needed=got["votes_needed"],
        accepted_matches=got["accepted_matches"],
        total_seconds=sum(f.seconds_spent for f in facts),
    )
    assert got["week"] < len(facts)  # last week's judgements are left out
    assert got["pace_per_hour"] == want["pace_per_hour"] > 0
    for key in ("validators", "today", "week", "median_seconds", "gold_accuracy", "n_gold"):
        assert got[key] == want[key], key
    assert got["seconds_per_accepted_match"] == pytest.approx(want["seconds_per_accepted_match"])


def test_throughput_view_is_for_admins(client, run, validators, admin_user):
    route_run(run=run, accept=None, review=0.0)
    url = reverse("validation:throughput")
    assert client.get(url).status_code == 302  # login first
    client.force_login(validators[0])
    assert client.get(url).status_code == 403
    lease = leasing.lease_next_row(validator=validators[0], policy=LeasePolicy(gold_rate=0.0))
    services.judge_row(validator=validators[0], lease_id=lease.pk, slot=0)
    client.force_login(admin_user)
    resp = client.get(url)
    assert resp.status_code == 200
    html = resp.content.decode()
    assert "Review throughput" in html and "val1" in html
    assert "Time to clear the queue" in html and "Validator-seconds per accepted match" in html
