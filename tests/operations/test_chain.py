"""Chains and the job record without the views: cancel between stages and within one (nothing
half-done), stale jobs marked interrupted, the label-source keyword for training."""

from __future__ import annotations

import datetime as dt
import subprocess

import pytest
from django.utils import timezone

from demo.synthetic_run import create_synthetic_run
from matching import selectors as matching_selectors
from matching.models import MatchRun, OfferEmbedding, ProjectionModel
from operations import chain, services
from operations.models import PipelineJob

pytestmark = pytest.mark.django_db

Kind, Status = PipelineJob.Kind, PipelineJob.Status


def _train_params(shops: list[str], epochs: int = 30) -> dict:
    return {
        "train_shops": shops,
        "shops": shops,
        "before": None,
        "features": "text",
        "image_spec": None,
        "text_spec": "minilm",
        "labels": ["product_ids"],
        "epochs": epochs,
        "name": "",
    }


def test_a_cancel_between_stages_stops_the_chain_before_the_next_stage(demo_shops):
    job = services.create_job(kind=Kind.MATCH, params={})
    job = services.check_begin_stage(job_id=job.pk, stage="encode")
    services.request_cancel(job_id=job.pk)  # running: only flagged
    job.refresh_from_db()
    assert job.status == Status.RUNNING and job.cancel_requested
    assert services.do_finish_stage(job=job, stage="encode", detail="") == "match"
    chain.run_stage(job_id=job.pk, stage="match")
    job.refresh_from_db()
    assert job.status == Status.CANCELLED and job.finished_at is not None
    assert not MatchRun.objects.exists()


def test_a_cancel_within_encoding_stops_before_the_next_chunk(demo_shops):
    job = services.create_job(kind=Kind.TRAIN, params=_train_params(demo_shops))
    job = services.check_begin_stage(job_id=job.pk, stage="encode")
    services.request_cancel(job_id=job.pk)
    report = services.progress_reporter(job_id=job.pk)
    with pytest.raises(services.Cancelled):
        chain.STAGE_WORK["encode"](job, report)
    assert not OfferEmbedding.objects.exists()


def test_a_cancel_within_training_leaves_a_failed_model_and_a_cancelled_job(demo_shops):
    job = services.create_job(kind=Kind.TRAIN, params=_train_params(demo_shops))
    job = services.check_begin_stage(job_id=job.pk, stage="encode")
    chain.STAGE_WORK["encode"](job, services.progress_reporter(job_id=job.pk))
    job.refresh_from_db()
    services.do_finish_stage(job=job, stage="encode", detail="")
    job = services.check_begin_stage(job_id=job.pk, stage="train")
    real = services.progress_reporter(job_id=job.pk)
    seen = []

    def admin_cancels_at_epoch_2(done: int, total: int, label: str = "") -> None:
        seen.append(done)
        if done == 2:
            services.request_cancel(job_id=job.pk)  # as the cancel button would
        real(done, total, label)

    with pytest.raises(services.Cancelled) as caught:
        chain.STAGE_WORK["train"](job, admin_cancels_at_epoch_2)
    assert seen[-1] == 2  # training stopped at the report after the cancel
    model = ProjectionModel.objects.get()
    assert model.status == ProjectionModel.Status.FAILED and "Cancelled" in model.error
    assert not ProjectionModel.objects.filter(status=ProjectionModel.Status.READY).exists()
    job.refresh_from_db()
    services.do_fail_stage(job=job, stage="train", exc=caught.value)
    job.refresh_from_db()
    assert job.status == Status.CANCELLED and job.error == ""
    assert [s["status"] for s in job.stages] == ["done", "cancelled"]


def test_a_running_job_whose_process_is_gone_is_marked_interrupted():
    dead = subprocess.Popen(["true"])
    dead.wait()
    here = services.create_job(kind=Kind.MATCH, params={})
    services.check_begin_stage(job_id=here.pk, stage="encode")
    PipelineJob.objects.filter(pk=here.pk).update(worker_pid=dead.pid)
    elsewhere_old = services.create_job(kind=Kind.MATCH, params={})
    elsewhere_new = services.create_job(kind=Kind.MATCH, params={})
    for job, age in ((elsewhere_old, dt.timedelta(hours=7)), (elsewhere_new, dt.timedelta(0))):
        services.check_begin_stage(job_id=job.pk, stage="encode")
        PipelineJob.objects.filter(pk=job.pk).update(
            worker_host="another-host", heartbeat_at=timezone.now() - age
        )
    alive = services.create_job(kind=Kind.MATCH, params={})
    services.check_begin_stage(job_id=alive.pk, stage="encode")  # this test's own pid
    # the match run such a process left behind is failed too (the next match would do it)
    run = create_synthetic_run(n_queries=3, seed=1)
    MatchRun.objects.filter(pk=run.pk).update(
        status=MatchRun.Status.RUNNING,
        worker_host=matching_selectors.this_host(),
        worker_pid=dead.pid,
    )

    assert services.mark_stale_jobs() == 2
    states = dict(PipelineJob.objects.values_list("pk", "status"))
    assert states[here.pk] == states[elsewhere_old.pk] == Status.INTERRUPTED
    assert states[elsewhere_new.pk] == states[alive.pk] == Status.RUNNING
    here.refresh_from_db()
    assert here.stages[0]["status"] == "interrupted" and here.error == services.INTERRUPTED
    assert here.worker_host == matching_selectors.this_host()
    run.refresh_from_db()
    assert run.status == MatchRun.Status.FAILED and run.error.startswith("interrupted")
    assert not run.candidates.exists()


def test_a_stage_of_a_finished_job_does_not_run_again():
    job = services.create_job(kind=Kind.MATCH, params={})
    services.request_cancel(job_id=job.pk)
    assert services.check_begin_stage(job_id=job.pk, stage="encode") is None
    with pytest.raises(services.NothingToCancel):
        services.request_cancel(job_id=job.pk)


def test_the_train_stage_passes_label_sources_and_gold_floor_to_training(monkeypatch):
    seen = {}

    def fake_train(**kwargs):
        seen.update(kwargs)
        raise RuntimeError("stop here")

    monkeypatch.setattr(chain.training, "train_projection", fake_train)
    job = services.create_job(
        kind=Kind.TRAIN,
        params={
            "train_shops": ["a"], "features": "text", "image_spec": None, "text_spec": "minilm",
            "labels": ["product_ids", "verdicts"], "min_gold_accuracy": 0.9, "epochs": 3,
        },
    )  # fmt: skip
    with pytest.raises(RuntimeError, match="stop here"):
        chain.STAGE_WORK["train"](job, lambda *a, **k: None)
    assert seen["config"].labels == ("product_ids", "verdicts")
    assert seen["config"].min_gold_accuracy == 0.9 and seen["config"].epochs == 3
