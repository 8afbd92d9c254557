"""The admin home shows what needs attention: open review rows, failed jobs, unrouted runs."""

from __future__ import annotations

import pytest
from django.urls import reverse

from demo.synthetic_run import create_synthetic_run
from operations.models import PipelineJob
from operations.services import create_job
from validation.models import ReviewRow
from validation.services.routing import route_run

pytestmark = pytest.mark.django_db


def test_home_lists_open_rows_failed_jobs_and_unrouted_runs(admin_client, admin_user):
    routed = create_synthetic_run(n_queries=20, seed=3)
    route_run(run=routed, accept=0.95, review=0.2)
    unrouted = create_synthetic_run(n_queries=5, seed=4)
    failed = create_job(kind=PipelineJob.Kind.TRAIN, params={}, user=admin_user)
    PipelineJob.objects.filter(pk=failed.pk).update(
        status=PipelineJob.Status.FAILED, error="ValueError: no training offers"
    )
    n_open = ReviewRow.objects.filter(kind="review", status="open").count()
    assert n_open > 0

    page = admin_client.get(reverse("home")).content.decode()
    assert f"<strong>{n_open}</strong> open review row" in page
    assert "<strong>1</strong> failed job" in page
    assert "ValueError: no training offers" in page
    assert reverse("operations:job", args=[failed.pk]) in page
    assert "<strong>1</strong> finished run not yet routed" in page
    assert reverse("validation:triage", args=[unrouted.pk]) in page
    assert reverse("validation:triage", args=[routed.pk]) not in page


def test_validators_are_sent_to_the_review_page(client, validator_user):
    client.force_login(validator_user)
    assert client.get(reverse("home"))["Location"] == reverse("validation:review")
