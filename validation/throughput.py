"""Review throughput for admins (plain Python, no ORM): who judged how much, how fast, how well,
and when the queue will be empty at the current pace.

The selector (validation/selectors/throughput.py) counts the week's active judgements per
validator in the database (``ValidatorWeek``: counts and the seconds spent, no rows) and reads a
few totals; :func:`summary_of_counts` computes from them (:func:`summary` does the same from one
``JudgementFacts`` per judgement, through :func:`counts_of`):

* per validator: judgements today and this week, median seconds per row this week, gold
  accuracy this week (share of their judgements on gold rows that give the known answer);
* the queue: open rows and votes still needed (``judgements_needed - n_judgements`` summed over
  open rows), the pace (judgements per hour over the last ``pace_window``, all validators), and
  the time to clear the queue at that pace (``None`` when nobody judged in the window);
* validator-seconds per accepted match: all seconds validators spent on judgements (gold rows
  included: they are part of the cost) divided by the matches accepted by human decisions.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class JudgementFacts:
    validator: str
    created_at: datetime
    seconds_spent: float
    gold_correct: bool | None  # None: not a gold row (or no known answer)


@dataclass(frozen=True)
class ValidatorThroughput:
    name: str
    today: int
    week: int
    median_seconds: float | None
    n_gold: int
    gold_accuracy: float | None


@dataclass(frozen=True)
class ValidatorWeek:
    """One validator's judgements of this week, counted."""

    validator: str
    today: int
    week: int
    seconds: Sequence[float]  # seconds_spent of each of the week's judgements
    n_gold: int  # on gold rows with a known answer
    gold_right: int  # of those, giving the known answer


def _check(*, now: datetime, day_start: datetime, week_start: datetime, pace_window: timedelta):
    if not week_start <= day_start <= now:
        raise ValueError("expected week_start <= day_start <= now")
    if pace_window <= timedelta(0):
        raise ValueError("pace_window must be positive")


def counts_of(
    judgements: Sequence[JudgementFacts],
    *,
    now: datetime,
    day_start: datetime,
    week_start: datetime,
    pace_window: timedelta = timedelta(hours=1),
) -> tuple[list[ValidatorWeek], int]:
    """Per-validator counts of this week's judgements, and the judgements in the pace window
    (``now - pace_window <= created_at <= now``, last week's included)."""
    per: dict[str, list[JudgementFacts]] = defaultdict(list)
    for j in judgements:
        if j.created_at >= week_start:
            per[j.validator].append(j)
    weeks = []
    for name, js in per.items():
        gold = [j.gold_correct for j in js if j.gold_correct is not None]
        weeks.append(
            ValidatorWeek(
                validator=name,
                today=sum(1 for j in js if j.created_at >= day_start),
                week=len(js),
                seconds=[j.seconds_spent for j in js],
                n_gold=len(gold),
                gold_right=sum(gold),
            )
        )
    since = now - pace_window
    recent = sum(1 for j in judgements if since <= j.created_at <= now)
    return weeks, recent


def summary(
    *,
    judgements: Sequence[JudgementFacts],
    now: datetime,
    day_start: datetime,
    week_start: datetime,
    open_rows: int,
    votes_needed: int,
    accepted_matches: int,
    total_seconds: float,
    pace_window: timedelta = timedelta(hours=1),
) -> dict:
    """Throughput figures from this week's judgements (``created_at >= week_start``) and totals.

    ``total_seconds``: validator-seconds of all active judgements (all time);
    ``accepted_matches``: matches accepted by human decisions (all time).
    """
    _check(now=now, day_start=day_start, week_start=week_start, pace_window=pace_window)
    weeks, recent = counts_of(
        judgements, now=now, day_start=day_start, week_start=week_start, pace_window=pace_window
    )
    return summary_of_counts(
        validators=weeks,
        recent=recent,
        now=now,
        day_start=day_start,
        week_start=week_start,
        open_rows=open_rows,
        votes_needed=votes_needed,
        accepted_matches=accepted_matches,
        total_seconds=total_seconds,
        pace_window=pace_window,
    )


def summary_of_counts(
    *,
    validators: Sequence[ValidatorWeek],
    recent: int,
    now: datetime,
    day_start: datetime,
    week_start: datetime,
    open_rows: int,
    votes_needed: int,
    accepted_matches: int,
    total_seconds: float,
    pace_window: timedelta = timedelta(hours=1),
) -> dict:
    """:func:`summary` from the week's counts per validator and the pace window's count."""
    _check(now=now, day_start=day_start, week_start=week_start, pace_window=pace_window)
    out = [
        ValidatorThroughput(
            name=v.validator,
            today=v.today,
            week=v.week,
            median_seconds=statistics.median(v.seconds) if v.seconds else None,
            n_gold=v.n_gold,
            gold_accuracy=v.gold_right / v.n_gold if v.n_gold else None,
        )
        for v in sorted(validators, key=lambda v: v.validator)
        if v.week
    ]
    out.sort(key=lambda v: (-v.today, -v.week, v.name))
    per_hour = recent / (pace_window.total_seconds() / 3600)
    hours_to_clear = votes_needed / per_hour if per_hour > 0 else None
    if votes_needed == 0:
        hours_to_clear = 0.0
    all_week = [x for v in validators for x in v.seconds]
    n_gold = sum(v.n_gold for v in validators)
    return {
        "validators": out,
        "today": sum(v.today for v in out),
        "week": sum(v.week for v in out),
        "median_seconds": statistics.median(all_week) if all_week else None,
        "gold_accuracy": sum(v.gold_right for v in validators) / n_gold if n_gold else None,
        "n_gold": n_gold,
        "open_rows": open_rows,
        "votes_needed": votes_needed,
        "pace_per_hour": per_hour,
        "pace_window_minutes": pace_window.total_seconds() / 60,
        "hours_to_clear": hours_to_clear,
        "clear_at": now + timedelta(hours=hours_to_clear) if hours_to_clear is not None else None,
        "accepted_matches": accepted_matches,
        "seconds_per_accepted_match": (
            total_seconds / accepted_matches if accepted_matches else None
        ),
    }
