"""Throughput reads: the week's judgements counted per validator in the database (no rows
loaded but their seconds) and the queue totals, for throughput.summary_of_counts."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.db.models import CharField, Count, F, Q, Sum
from django.db.models.functions import Cast
from django.utils import timezone

from validation import throughput
from validation.models import Decision, Judgement, ReviewRow


def week_start_of(day_start: datetime) -> datetime:
    """Monday 00:00 (local time) of the week of ``day_start``."""
    return day_start - timedelta(days=day_start.weekday())


def throughput_summary(
    *, now: datetime | None = None, pace_window: timedelta = timedelta(hours=1)
) -> dict:
    """Judgements per validator today and this week, median seconds, gold accuracy, the queue
    and the time to clear it at the current pace, validator-seconds per accepted match."""
    now = now or timezone.now()
    day_start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    week_start = week_start_of(day_start)
    active = Judgement.objects.filter(undone_at__isnull=True)
    week = active.filter(created_at__gte=week_start)
    gold = Q(row__kind=ReviewRow.Kind.GOLD) & ~Q(row__truth=ReviewRow.Truth.UNKNOWN)
    right = (
        Q(row__truth=ReviewRow.Truth.MATCH) & Q(choice=Cast("row__truth_offer_id", CharField()))
    ) | (Q(row__truth=ReviewRow.Truth.NONE) & Q(choice="none"))
    counts = week.values("validator_id", "validator__username").annotate(
        today=Count("id", filter=Q(created_at__gte=day_start)),
        week=Count("id"),
        n_gold=Count("id", filter=gold),
        gold_right=Count("id", filter=gold & right),
    )
    seconds: dict[int, list[float]] = defaultdict(list)
    for validator_id, spent in week.values_list("validator_id", "seconds_spent").iterator(
        chunk_size=10_000
    ):
        seconds[validator_id].append(spent)
    weeks = [
        throughput.ValidatorWeek(
            validator=c["validator__username"],
            today=c["today"],
            week=c["week"],
            seconds=seconds[c["validator_id"]],
            n_gold=c["n_gold"],
            gold_right=c["gold_right"],
        )
        for c in counts
    ]
    recent = active.filter(created_at__gte=now - pace_window, created_at__lte=now).count()
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
    return throughput.summary_of_counts(
        validators=weeks,
        recent=recent,
        now=now,
        day_start=day_start,
        week_start=week_start,
        open_rows=queue["open_rows"],
        votes_needed=queue["votes_needed"] or 0,
        accepted_matches=accepted,
        total_seconds=total_seconds or 0.0,
        pace_window=pace_window,
    )
