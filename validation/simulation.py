"""Simulated validators with given error rates, judging through the real services.

For a row whose true answer is candidate c, a simulated validator picks c with probability
``tpr`` and "none" otherwise. For a row where no candidate matches, it picks the most similar
candidate (rank 1, the most plausible wrong answer) with probability ``fpr`` and "none"
otherwise. Rows without ground truth: rank 1 with probability 1/2.

Every judgement is thus one of two answers, right with a known probability, so the expected
number of judgements per decided row follows from the aggregation rule alone
(``expected_votes_per_decided_row``; 3 - (a^2 + (1-a)^2) for accuracy a under a majority of
three with early decision, 3 without).
"""

from __future__ import annotations

import random

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from matching.models import MatchRun
from validation import aggregation
from validation.assignment import LeasePolicy
from validation.models import ReviewRow, ReviewSettings
from validation.permissions import VALIDATORS
from validation.selectors.review import slot_order_for
from validation.services import leasing as leasing_services
from validation.services import review as review_services


def simulated_validators(k: int) -> list:
    group, _ = Group.objects.get_or_create(name=VALIDATORS)
    users = []
    for i in range(1, k + 1):
        user, created = get_user_model().objects.get_or_create(username=f"sim-{i}")
        if created:
            user.set_unusable_password()
            user.save()
        user.groups.add(group)
        users.append(user)
    return users


def pick_slot(
    *, row: ReviewRow, order: list[int], tpr: float, fpr: float, rng: random.Random
) -> int:
    ids = list(row.candidate_ids)
    if row.truth == ReviewRow.Truth.MATCH:
        if rng.random() < tpr:
            return order.index(ids.index(row.truth_offer_id)) + 1
        return 0
    p = fpr if row.truth == ReviewRow.Truth.NONE else 0.5
    return order.index(0) + 1 if rng.random() < p else 0


def p_right(*, truth: str, tpr: float, fpr: float) -> float:
    """Probability that a simulated judgement on a row with this truth is the right answer."""
    if truth == ReviewRow.Truth.MATCH:
        return tpr
    if truth == ReviewRow.Truth.NONE:
        return 1 - fpr
    return 0.5


def expected_votes_per_decided_row(*, run: MatchRun, tpr: float, fpr: float) -> float | None:
    """Mean expected judgements over the run's decided rows under the current settings."""
    cfg = ReviewSettings.load()
    truths = list(
        ReviewRow.objects.filter(run=run, status=ReviewRow.Status.DECIDED).values_list(
            "truth", flat=True
        )
    )
    if not truths:
        return None
    cache: dict[str, float] = {}
    for t in set(truths):
        cache[t] = aggregation.expected_judgements(
            p_right=p_right(truth=t, tpr=tpr, fpr=fpr),
            rule=cfg.aggregation_rule,
            required=cfg.judgements_per_row,
            max_extra=cfg.max_extra_judgements,
            early=cfg.early_decision,
        )
    return sum(cache[t] for t in truths) / len(truths)


def simulate(
    *,
    run: MatchRun,
    validators: int,
    tpr: float,
    fpr: float,
    seed: int = 0,
    max_judgements: int | None = None,
) -> int:
    """Judge the run's rows until none is left for any simulated validator; returns judgements."""
    rng = random.Random(seed)
    cfg = ReviewSettings.load()
    users = simulated_validators(validators)
    active = list(users)
    n = 0
    while active:
        for user in list(active):
            policy = LeasePolicy(gold_rate=cfg.gold_rate, rng=rng)
            lease = leasing_services.lease_next_row(validator=user, policy=policy, run=run)
            if lease is None:
                active.remove(user)
                continue
            row = lease.row
            order = slot_order_for(row=row, validator_id=user.pk)
            slot = pick_slot(row=row, order=order, tpr=tpr, fpr=fpr, rng=rng)
            review_services.judge_row(validator=user, lease_id=lease.pk, slot=slot)
            n += 1
            if max_judgements is not None and n >= max_judgements:
                return n
    return n
