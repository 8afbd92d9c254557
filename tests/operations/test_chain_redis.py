"""A chain on real queues: encoding on `gpu`, matching and routing on `default`, each stage a
job that enqueues the next; the record carries the RQ ids."""

from __future__ import annotations

import pytest

from matching.models import MatchRun
from operations import chain
from operations.models import PipelineJob
from validation.models import Routing


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)  # django-rq enqueues on commit: no outer transaction
def test_a_match_chain_runs_stage_by_stage_on_the_queues(demo_shops):
    import django_rq
    from rq import SimpleWorker

    gpu, default = django_rq.get_queue("gpu"), django_rq.get_queue("default")
    gpu.empty()
    default.empty()
    params = {
        "query_shop": demo_shops[1],
        "index_shop": demo_shops[0],
        "shops": demo_shops[:2],
        "model": None,
        "features": "text",
        "image_spec": None,
        "text_spec": "minilm",
        "since": None,
        "new_only": False,
        "accept": None,
        "review": None,
        "target_precision": 0.9,
    }
    job = chain.start(kind=PipelineJob.Kind.MATCH, params=params)
    assert job.status == PipelineJob.Status.QUEUED and len(job.rq_ids) == 1
    assert gpu.fetch_job(job.rq_ids[0]) is not None  # encoding waits for the GPU worker
    assert default.count == 0

    SimpleWorker([gpu], connection=gpu.connection).work(burst=True)
    job.refresh_from_db()
    assert [s["status"] for s in job.stages] == ["done", "pending", "pending"]
    assert job.status == PipelineJob.Status.QUEUED and len(job.rq_ids) == 2
    assert default.fetch_job(job.rq_ids[1]) is not None

    SimpleWorker([default], connection=default.connection).work(burst=True)
    job.refresh_from_db()
    assert job.status == PipelineJob.Status.DONE, job.error
    assert [s["status"] for s in job.stages] == ["done", "done", "done"]
    assert len(job.rq_ids) == 3
    assert MatchRun.objects.get().pk == job.run_id
    assert Routing.objects.filter(run_id=job.run_id, is_current=True).exists()
