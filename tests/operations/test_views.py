"""The operations pages: admin-only, forms that name what is wrong, chains that run inline and
record their stages, failures recorded on the job, cancel, the runs page's links."""

from __future__ import annotations

import pytest
from django.urls import reverse

from matching.models import MatchRun, Offer, ProjectionModel, Shop
from operations.models import PipelineJob
from operations.services import create_job
from validation.models import ReviewRow, Routing

pytestmark = pytest.mark.django_db

PAGES = [
    ("get", "operations:jobs", {}),
    ("get", "operations:start_match", {}),
    ("get", "operations:start_train", {}),
    ("get", "operations:job", {"job_id": "JOB"}),
    ("post", "operations:cancel", {"job_id": "JOB"}),
    ("get", "operations:job_for_run", {"run_id": 1}),
]


def _match_post(shops: list[str], **changes) -> dict:
    data = {
        "query_shop": shops[1],
        "index_shop": shops[0],
        "model": "raw",
        "features": "text",
        "image_encoder": "timm:test_efficientnet",
        "text_encoder": "minilm",
        "target_precision": "0.9",
    }
    data.update(changes)
    return data


@pytest.mark.parametrize(("method", "name", "kwargs"), PAGES)
def test_pages_are_for_admins_only(client, validator_user, admin_user, method, name, kwargs):
    job = create_job(kind=PipelineJob.Kind.MATCH, params={}, user=admin_user)
    url = reverse(name, kwargs={k: job.pk if v == "JOB" else v for k, v in kwargs.items()})
    response = getattr(client, method)(url)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    client.force_login(validator_user)
    assert getattr(client, method)(url).status_code == 403
    client.force_login(admin_user)
    response = getattr(client, method)(url)
    assert response.status_code in (200, 302)
    if method == "post":  # the admin's cancel went through
        job.refresh_from_db()
        assert job.status == PipelineJob.Status.CANCELLED


def test_match_form_names_what_is_wrong(admin_client, demo_shops):
    url = reverse("operations:start_match")
    failed = ProjectionModel.objects.create(features="text", status=ProjectionModel.Status.FAILED)
    no_images = Shop.objects.create(name="plain-shop")
    Offer.objects.create(shop=no_images, offer_id="p1", title="a plain shirt")
    cases = [
        ({"query_shop": "nope"}, "unknown shop “nope”"),
        ({"index_shop": demo_shops[1]}, "the index shop must differ from the query shop"),
        ({"model": str(failed.pk)}, f"projection model #{failed.pk} is failed, not ready"),
        ({"model": "9999"}, "there is no projection model #9999"),
        ({"target_precision": "1"}, "must lie strictly between 0 and 1"),
        ({"target_precision": "0"}, "must lie strictly between 0 and 1"),
        ({"features": ""}, "choose the features to match on raw embeddings"),
        ({"accept": "0.3", "review": "0.6"}, "must be at least the review threshold"),
        ({"text_encoder": "bert-please"}, "unknown text encoder “bert-please”"),
        (
            {"features": "image+text", "index_shop": "plain-shop"},
            "uses image features, but shop “plain-shop” has no images",
        ),
        ({"since": "2999-01-01"}, f"shop “{demo_shops[1]}” has no offers created on or after"),
    ]
    for change, message in cases:
        response = admin_client.post(url, _match_post(demo_shops, **change))
        assert response.status_code == 400, change
        assert message in response.content.decode(), change
    assert not PipelineJob.objects.exists()


def test_train_form_names_what_is_wrong(admin_client, demo_shops):
    url = reverse("operations:start_train")
    bare = Shop.objects.create(name="no-ids")
    Offer.objects.create(shop=bare, offer_id="x1", title="a shirt")
    base = {"features": "text", "label_sources": ["product_ids"], "epochs": "5"}
    cases = [
        ({}, "choose at least one shop"),
        ({"train_shops": ["nope"]}, "unknown shop “nope”"),
        ({"train_shops": ["no-ids"]}, "no offer of no-ids has a product id"),
        ({"train_shops": demo_shops, "before": "1990-01-01"}, "created before 1990-01-01"),
        ({"train_shops": demo_shops, "label_sources": []}, "choose at least one label source"),
        ({"train_shops": demo_shops, "epochs": "0"}, "greater than or equal to 1"),
    ]
    for change, message in cases:
        response = admin_client.post(url, {**base, **change})
        assert response.status_code == 400, change
        assert message in response.content.decode(), change
    assert not PipelineJob.objects.exists()


def test_a_match_chain_runs_inline_and_records_its_stages(admin_client, admin_user, demo_shops):
    response = admin_client.post(reverse("operations:start_match"), _match_post(demo_shops))
    job = PipelineJob.objects.get()
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("operations:jobs"))
    assert job.status == PipelineJob.Status.DONE, job.error
    assert [(s["name"], s["status"]) for s in job.stages] == [
        ("encode", "done"),
        ("match", "done"),
        ("route", "done"),
    ]
    assert "encoded" in job.stages[0]["detail"]
    assert job.stages[1]["detail"].startswith(f"run #{job.run_id}:")
    assert "auto-accepted" in job.stages[2]["detail"]
    assert job.created_by == admin_user and job.started_at <= job.finished_at
    run = job.run
    assert run.status == MatchRun.Status.DONE and run.model is None and run.features == "text"
    assert (run.query_shop.name, run.index_shop.name) == (demo_shops[1], demo_shops[0])
    routing = Routing.objects.get(run=run, is_current=True)
    assert routing.target_precision == pytest.approx(0.9)
    assert ReviewRow.objects.filter(run=run).count() + routing.run.decisions.count() > 0

    page = admin_client.get(response["Location"]).content.decode()
    assert f'id="job-{job.pk}"' in page
    assert reverse("validation:triage", args=[run.pk]) in page
    assert "import #" in page  # the catalogue import is listed too
    assert 'hx-trigger="every' not in page  # nothing runs: no polling
    detail = admin_client.get(reverse("operations:job", args=[job.pk])).content.decode()
    assert "Triage of run #" in detail and "route" in detail
    # the runs page links the run to its job, its (raw) model and its shops
    runs_page = admin_client.get(reverse("validation:runs")).content.decode()
    assert reverse("operations:job_for_run", args=[run.pk]) in runs_page
    assert f"?shop__id__exact={run.query_shop_id}" in runs_page
    follow = admin_client.get(reverse("operations:job_for_run", args=[run.pk]))
    assert follow["Location"] == reverse("operations:job", args=[job.pk])


def test_a_train_chain_runs_inline_and_links_its_model(admin_client, demo_shops):
    response = admin_client.post(
        reverse("operations:start_train"),
        {
            "train_shops": demo_shops,
            "features": "text",
            "text_encoder": "minilm",
            "label_sources": ["product_ids"],
            "epochs": "3",
            "name": "from the web",
        },
    )
    assert response.status_code == 302
    job = PipelineJob.objects.get()
    assert job.status == PipelineJob.Status.DONE, job.error
    assert [s["status"] for s in job.stages] == ["done", "done"]
    assert job.model.status == ProjectionModel.Status.READY
    assert job.model.name == "from the web" and job.model.features == "text"
    assert job.params["labels"] == ["product_ids"]
    page = admin_client.get(reverse("operations:jobs")).content.decode()
    assert reverse("admin:matching_projectionmodel_change", args=[job.model_id]) in page


def test_a_failing_stage_records_its_error_and_stops_the_chain(admin_client, demo_shops):
    post = _match_post(demo_shops, text_encoder="sentence-transformers:/no/such/folder")
    admin_client.post(reverse("operations:start_match"), post)
    job = PipelineJob.objects.get()
    assert job.status == PipelineJob.Status.FAILED
    assert [s["status"] for s in job.stages] == ["failed", "pending", "pending"]
    assert "/no/such/folder" in job.error and job.stages[0]["detail"] == job.error
    assert not MatchRun.objects.exists()  # the match never started
    page = admin_client.get(reverse("operations:jobs")).content.decode()
    assert "/no/such/folder" in page
    home = admin_client.get(reverse("home")).content.decode()
    assert reverse("operations:job", args=[job.pk]) in home  # a failed job needs attention


def test_cancel_a_queued_job_at_once_and_a_finished_one_not_at_all(admin_client, admin_user):
    job = create_job(kind=PipelineJob.Kind.MATCH, params={}, user=admin_user)
    response = admin_client.post(reverse("operations:cancel", args=[job.pk]))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == PipelineJob.Status.CANCELLED and job.finished_at is not None
    assert {s["status"] for s in job.stages} == {"cancelled"}
    response = admin_client.post(reverse("operations:cancel", args=[job.pk]), follow=True)
    assert f"job #{job.pk} is cancelled: there is nothing to cancel" in response.content.decode()


def test_the_jobs_page_polls_while_a_job_is_active(admin_client, admin_user):
    job = create_job(kind=PipelineJob.Kind.TRAIN, params={}, user=admin_user)
    page = admin_client.get(reverse("operations:jobs")).content.decode()
    assert 'hx-trigger="every 2s"' in page and "Cancel" in page
    fragment = admin_client.get(reverse("operations:jobs"), HTTP_HX_REQUEST="true")
    body = fragment.content.decode()
    assert body.lstrip().startswith('<div id="jobs"')
    assert "<html" not in body and f'id="job-{job.pk}"' in body
