"""Decision rules: a row's outcome from its judgements (plain Python, no ORM).

A choice is a candidate offer id as a string, or ``"none"``.

The full process (the paper's): a row takes ``required`` judgements; then the rule looks for a
winner. Without a winner it asks for one more judgement and looks again, until
``required + max_extra`` judgements; then it is decided as ``"none"`` with ``no_majority=True``
(nothing is accepted). The process stops at the first judgement count that has a winner.

* ``majority`` (the paper's rule, default): an option wins when MORE than half of the
  judgements choose it (2 of 3, 3 of 4, ...). A 1-1-1 split or a 2-2 tie has no winner.
* ``unanimous``: an option wins when every judgement chooses it.

Early decision (``early=True``, the default; ReviewSettings.early_decision): a row is decided
as soon as every possible continuation of its judgements would end the full process with the
same choice, so the remaining judgements cannot change the outcome and are not asked for. With
a majority of three, two agreeing judgements decide the row ("stop when two agree"); a third
is asked only when the first two disagree; ties still get extra judgements. The decision is,
by construction, the one the full process would reach on any continuation of the same
judgements (tests/validation/test_aggregation.py checks it exhaustively against a brute-force
enumeration). ``needed`` is then the smallest number of judgements after which the row can be
decided, so leases are handed out only for judgements that can still matter: 2 for a fresh row
under a majority of three, 3 after a disagreement.

Continuations are enumerated over the options already chosen, "none", and fresh candidates
(interchangeable, so one per step suffices); the search is memoised on the shape of the vote
counts, so it is cheap (a few hundred states for three judgements and two extra ones).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

NONE = "none"


@dataclass(frozen=True)
class Outcome:
    decided: bool
    choice: str  # "" while pending
    votes_for: int
    votes_total: int
    needed: int  # judgements the row needs now (grows on disagreement and ties)
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


def check_rule(rule: str) -> None:
    if rule not in RULES:
        raise ValueError(f"unknown aggregation rule {rule!r}; known: {', '.join(RULES)}")


def decide_full(
    choices: Sequence[str], *, rule: str = "majority", required: int = 3, max_extra: int = 2
) -> Outcome:
    """One step of the full process on the judgements so far (no early decision)."""
    check_rule(rule)
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


# --------------------------------------------------------------------------- early decision
#
# A state is the vote counts in canonical form: the count of "none" and the counts of the
# candidates chosen so far, largest first (candidates are interchangeable, so the outcomes only
# depend on this shape). Outcomes are labels: NONE, or "c<i>" for the i-th candidate of the
# canonical order, or "new" for a candidate nobody chose yet.


def _canonical(counts: Counter) -> tuple[int, tuple[int, ...], list[str]]:
    others = sorted(((n, opt) for opt, n in counts.items() if opt != NONE), key=lambda x: -x[0])
    return counts.get(NONE, 0), tuple(n for n, _ in others), [opt for _, opt in others]


def _label_counts(n_none: int, others: tuple[int, ...]) -> Counter:
    c = Counter({f"c{i}": n for i, n in enumerate(others)})
    if n_none:
        c[NONE] = n_none
    return c


@lru_cache(maxsize=65536)
def _explore(
    n_none: int, others: tuple[int, ...], rule: str, required: int, max_extra: int
) -> tuple[frozenset[str], int]:
    """(choices the full process can still end with, fewest further judgements until only one
    is left) from this state, assuming the full process has not stopped before it."""
    total = n_none + sum(others)
    counts = _label_counts(n_none, others)
    if total >= required:
        winner = RULES[rule](counts, total)
        if winner is not None:
            return frozenset([winner[0]]), 0
        if total >= required + max_extra:
            return frozenset([NONE]), 0
    outcomes: set[str] = set()
    depths = []
    # the next judgement: "none", one of the candidates chosen so far, or a fresh candidate
    # (a fresh candidate cannot be the only possible winner: "none" could always take the same
    # judgements with at least as many votes, so folding all fresh ones into "new" is safe)
    moves: list[tuple[int, tuple[int, ...], dict[str, str]]] = [(n_none + 1, others, {})]
    for i in range(len(others) + 1):
        bumped = [*others, 0]
        bumped[i] += 1
        shape, relabel = _resort([n for n in bumped if n])
        if i == len(others):
            relabel = {k: ("new" if v == f"c{len(others)}" else v) for k, v in relabel.items()}
        moves.append((n_none, shape, relabel))
    for nn, oo, relabel in moves:
        sub, depth = _explore(nn, oo, rule, required, max_extra)
        outcomes |= {relabel.get(x, x) for x in sub}
        depths.append(depth)
    return frozenset(outcomes), (0 if len(outcomes) == 1 else 1 + min(depths))


def _resort(counts: list[int]) -> tuple[tuple[int, ...], dict[str, str]]:
    """Canonical shape of candidate counts given in the parent's label order (index i is
    "c<i>"; an index past the parent's candidates is a fresh candidate, "new"), and how to map
    the child's labels back to the parent's."""
    order = sorted(range(len(counts)), key=lambda i: -counts[i])
    relabel = {f"c{new_i}": f"c{old_i}" for new_i, old_i in enumerate(order)}
    return tuple(counts[i] for i in order), relabel


def decide(
    choices: Sequence[str],
    *,
    rule: str = "majority",
    required: int = 3,
    max_extra: int = 2,
    early: bool = True,
) -> Outcome:
    """The row's outcome now. ``early``: decide as soon as no further judgement can change it
    (same decision as the full process); otherwise the full process (``decide_full``)."""
    full = decide_full(choices, rule=rule, required=required, max_extra=max_extra)
    if not early or full.decided:
        return full
    counts = Counter(choices)
    total = len(choices)
    n_none, others, names = _canonical(counts)
    outcomes, depth = _explore(n_none, others, rule, required, max_extra)
    if len(outcomes) == 1:
        (label,) = outcomes
        choice = NONE if label == NONE else names[int(label[1:])]
        votes = counts.get(choice, 0)
        return Outcome(
            True,
            choice,
            votes,
            total,
            needed=total,
            no_majority=choice == NONE and not 2 * votes > total,
        )
    best = counts.most_common(1)[0][1] if counts else 0
    return Outcome(False, "", best, total, needed=total + depth)


def needed_for_new_row(
    *, rule: str = "majority", required: int = 3, max_extra: int = 2, early: bool = True
) -> int:
    """Judgements a row without any needs (what a fresh review row is created with)."""
    return decide([], rule=rule, required=required, max_extra=max_extra, early=early).needed


def run_process(
    choices: Sequence[str],
    *,
    rule: str = "majority",
    required: int = 3,
    max_extra: int = 2,
    early: bool = True,
) -> tuple[Outcome, int]:
    """Feed judgements in recorded order, stopping where the rule stops; returns the outcome and
    how many judgements were used (all of them when the row stays undecided).

    Memoised on the pattern of the sequence (which judgements repeat which, and which are
    "none"), so replaying many rows costs little more than reading them."""
    check_rule(rule)
    names: list[str] = []
    pattern = []
    for c in choices:
        if c == NONE:
            pattern.append(-1)
        else:
            if c not in names:
                names.append(c)
            pattern.append(names.index(c))
    out, used = _run_pattern(tuple(pattern), rule, required, max_extra, early)
    if out.decided and out.choice != NONE:
        out = replace(out, choice=names[int(out.choice)])
    return out, used


@lru_cache(maxsize=65536)
def _run_pattern(
    pattern: tuple[int, ...], rule: str, required: int, max_extra: int, early: bool
) -> tuple[Outcome, int]:
    labels = [NONE if p < 0 else str(p) for p in pattern]
    out = decide([], rule=rule, required=required, max_extra=max_extra, early=early)
    for i in range(1, len(labels) + 1):
        out = decide(labels[:i], rule=rule, required=required, max_extra=max_extra, early=early)
        if out.decided:
            return out, i
    return out, len(labels)


def expected_judgements(
    *,
    p_right: float,
    rule: str = "majority",
    required: int = 3,
    max_extra: int = 2,
    early: bool = True,
) -> float:
    """Expected judgements per row when every judgement is, independently, the right answer
    with probability ``p_right`` and otherwise one and the same wrong answer (as the simulated
    validators of validation/simulation.py do). Exact, by enumerating the sequences. With a
    majority of three and early decision this is 3 - (a^2 + (1-a)^2) for a = p_right."""
    check_rule(rule)
    total = required + max_extra
    expected = 0.0
    for bits in range(2**total):
        seq = ["r" if bits >> i & 1 else "w" for i in range(total)]
        n_right = seq.count("r")
        prob = p_right**n_right * (1 - p_right) ** (total - n_right)
        _, used = run_process(seq, rule=rule, required=required, max_extra=max_extra, early=early)
        expected += prob * used
    return expected
