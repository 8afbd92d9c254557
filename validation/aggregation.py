"""Decision rules: a row's outcome from its judgements (plain Python, no ORM).

A choice is a candidate offer id as a string, or ``"none"``. A row is decided once it has at
least ``required`` judgements and the rule finds a winner. Without a winner it asks for one more
judgement, until ``required + max_extra`` judgements; then it is decided as ``"none"`` with
``no_majority=True`` (nothing is accepted).

* ``majority`` (the paper's rule, default): an option wins when MORE than half of the
  judgements choose it (2 of 3, 3 of 4, ...). A 1-1-1 split or a 2-2 tie has no winner.
* ``unanimous``: an option wins when every judgement chooses it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

NONE = "none"


@dataclass(frozen=True)
class Outcome:
    decided: bool
    choice: str  # "" while pending
    votes_for: int
    votes_total: int
    needed: int  # judgements the row needs now (grows on ties)
    no_majority: bool = False

    @property
    def accepted(self) -> bool:
        return self.decided and self.choice not in ("", NONE)


def _winner_majority(counts: Counter, total: int) -> tuple[str, int] | None:
    for option, n in counts.most_common():
        if 2 * n > total:
            return option, n
    return None


def _winner_unanimous(counts: Counter, total: int) -> tuple[str, int] | None:
    if len(counts) == 1:
        option, n = next(iter(counts.items()))
        return option, n
    return None


RULES = {"majority": _winner_majority, "unanimous": _winner_unanimous}


def decide(
    choices: Sequence[str], *, rule: str = "majority", required: int = 3, max_extra: int = 2
) -> Outcome:
    if rule not in RULES:
        raise ValueError(f"unknown aggregation rule {rule!r}; known: {', '.join(RULES)}")
    total = len(choices)
    counts = Counter(choices)
    if total < required:
        best = counts.most_common(1)[0][1] if counts else 0
        return Outcome(False, "", best, total, needed=required)
    winner = RULES[rule](counts, total)
    if winner is not None:
        return Outcome(True, winner[0], winner[1], total, needed=total)
    if total < required + max_extra:
        best = counts.most_common(1)[0][1]
        return Outcome(False, "", best, total, needed=total + 1)
    votes_none = counts.get(NONE, 0)
    return Outcome(True, NONE, votes_none, total, needed=total, no_majority=True)
