"""Judging helpers shared by the validation tests (through the real services)."""

from __future__ import annotations

import re

from validation.assignment import LeasePolicy
from validation.selectors.review import slot_order_for
from validation.services import leasing
from validation.services import review as services

NO_GOLD = LeasePolicy(gold_rate=0.0)


def slot_for(row, user, choice):
    """The key a validator must press to choose `choice` (offer pk or 'none')."""
    if choice == "none":
        return 0
    order = slot_order_for(row=row, validator_id=user.pk)
    return order.index(row.candidate_ids.index(choice)) + 1


def judge(user, choice=None, policy=NO_GOLD, run=None):
    lease = leasing.lease_next_row(validator=user, policy=policy, run=run)
    assert lease is not None
    row = lease.row
    if choice is None:
        choice = row.candidate_ids[0]
    services.judge_row(validator=user, lease_id=lease.pk, slot=slot_for(row, user, choice))
    row.refresh_from_db()
    return row


def judge_row(user, row, choice):
    # lease until we get `row` (partly judged rows come first, so it is the next one)
    lease = leasing.lease_next_row(validator=user, policy=NO_GOLD)
    assert lease.row_id == row.pk
    services.judge_row(validator=user, lease_id=lease.pk, slot=slot_for(row, user, choice))
    row.refresh_from_db()
    return row


def on_page(value: str, html: str) -> bool:
    """Whether an id (offer id, product id) stands on the page as a token of its own: not inside a
    longer alphanumeric run such as the random CSRF token, which may contain "q2" by chance."""
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(value)}(?![A-Za-z0-9])", html) is not None
