"""Throughput reads: load the week's judgements and the queue totals for throughput.summary."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, F, Sum
from django.utils import timezone

from validation import throughput
from validation.models import Decision, Judgement, ReviewRow


def week_start_of(day_start: datetime) -> datetime:
    """Monday 00:00 (local time) of the week of ``day_start``."""
    return day_start - timedelta(days=day_start.weekday())


def throughput_summary(*, now: datetime | None = None) -> dict:
    """Judgements per validator today and this week, median seconds, gold accuracy, the queue
    and the time to clear it at the current pace, validator-seconds per accepted match."""
    now = now or timezone.now()
    day_start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    week_start = week_start_of(day_start)
    since = min(week_start, now - timedelta(hours=1))  # the pace window may reach last week
    rows = Judgement.objects.filter(undone_at__isnull=True, created_at__gte=since).values_list(
        "validator__username",
        "created_at",
        "seconds_spent",
        "choice",
        "row__kind",
        "row__truth",
        "row__truth_offer_id",
    )
    facts = [
        throughput.JudgementFacts(
            validator=name,
            created_at=created_at,
            seconds_spent=seconds,
            gold_correct=(
                None
                if kind != ReviewRow.Kind.GOLD or truth == ReviewRow.Truth.UNKNOWN
                else choice == (str(truth_offer) if truth == ReviewRow.Truth.MATCH else "none")
            ),
        )
        for name, created_at, seconds, choice, kind, truth, truth_offer in rows
    ]
    queue = ReviewRow.objects.filter(status=ReviewRow.Status.OPEN).aggregate(
        open_rows=Count("id"),
        votes_needed=Sum(F("judgements_needed") - F("n_judgements")),
    )
    accepted = Decision.objects.filter(
        source=Decision.Source.HUMAN, matched_offer__isnull=False
    ).count()
    total_seconds = Judgement.objects.filter(undone_at__isnull=True).aggregate(
        s=Sum("seconds_spent")
    )["s"]
    return throughput.summary(
        judgements=facts,
        now=now,
        day_start=day_start,
        week_start=week_start,
        open_rows=queue["open_rows"],
        votes_needed=queue["votes_needed"] or 0,
        accepted_matches=accepted,
        total_seconds=total_seconds or 0.0,
    )
