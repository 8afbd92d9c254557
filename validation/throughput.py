"""Review throughput for admins (plain Python, no ORM): who judged how much, how fast, how well,
and when the queue will be empty at the current pace.

The selector (validation/selectors/throughput.py) loads the week's active judgements as
``JudgementFacts`` and a few totals; ``summary`` computes

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
    if not week_start <= day_start <= now:
        raise ValueError("expected week_start <= day_start <= now")
    if pace_window <= timedelta(0):
        raise ValueError("pace_window must be positive")
    per: dict[str, list[JudgementFacts]] = defaultdict(list)
    for j in judgements:
        if j.created_at >= week_start:
            per[j.validator].append(j)
    validators = []
    for name, js in sorted(per.items()):
        gold = [j.gold_correct for j in js if j.gold_correct is not None]
        validators.append(
            ValidatorThroughput(
                name=name,
                today=sum(1 for j in js if j.created_at >= day_start),
                week=len(js),
                median_seconds=statistics.median(j.seconds_spent for j in js),
                n_gold=len(gold),
                gold_accuracy=sum(gold) / len(gold) if gold else None,
            )
        )
    validators.sort(key=lambda v: (-v.today, -v.week, v.name))
    since = now - pace_window
    recent = sum(1 for j in judgements if since <= j.created_at <= now)
    per_hour = recent / (pace_window.total_seconds() / 3600)
    hours_to_clear = votes_needed / per_hour if per_hour > 0 else None
    if votes_needed == 0:
        hours_to_clear = 0.0
    all_week = [j.seconds_spent for js in per.values() for j in js]
    gold_all = [j.gold_correct for js in per.values() for j in js if j.gold_correct is not None]
    return {
        "validators": validators,
        "today": sum(v.today for v in validators),
        "week": sum(v.week for v in validators),
        "median_seconds": statistics.median(all_week) if all_week else None,
        "gold_accuracy": sum(gold_all) / len(gold_all) if gold_all else None,
        "n_gold": len(gold_all),
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
