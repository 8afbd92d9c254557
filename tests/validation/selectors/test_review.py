"""selectors/review.py: what a validator sees (feedback)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from validation.models import ReviewRow, ReviewSettings
from validation.selectors.review import feedback_mistakes
from validation.services import leasing
from validation.services import review as services
from validation.services.routing import route_run

from ..helpers import NO_GOLD, slot_for


def test_feedback_shows_own_mistakes_only(run, validators):
    route_run(run=run, accept=None, review=0.0)
    v1, v2 = validators[:2]
    row = ReviewRow.objects.filter(run=run, truth="match").order_by("id").first()
    wrong = next(c for c in row.candidate_ids if c != row.truth_offer_id)
    # lease the specific row for v1 by judging rows until it comes up
    for _ in range(40):
        lease = leasing.lease_next_row(validator=v1, policy=NO_GOLD)
        choice = wrong if lease.row_id == row.pk else "none"
        services.judge_row(validator=v1, lease_id=lease.pk, slot=slot_for(lease.row, v1, choice))
        if lease.row_id == row.pk:
            break
    # answers appear only once the undo window has passed (feedback_rules)
    assert feedback_mistakes(validator=v1)["mistakes"] == []
    later = timezone.now() + timedelta(seconds=ReviewSettings.load().undo_seconds + 1)
    fb1 = feedback_mistakes(validator=v1, now=later)
    assert fb1["n"] >= 1 and fb1["mistakes"]
    assert feedback_mistakes(validator=v2)["n"] == 0
