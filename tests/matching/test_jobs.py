import pytest

from matching import jobs
from matching.models import Candidate, MatchRun, Offer, OfferEmbedding

pytestmark = pytest.mark.django_db


@pytest.mark.sqlite
def test_jobs_run_inline_without_redis(imported_cross_shop, specs):
    imported_cross_shop(n_products=4, images=False)
    handle = jobs.enqueue_encoding(image_spec=None, text_spec=specs["text_spec"], chunk_size=5)
    assert handle.ran_inline
    (plan,) = handle.result
    n = Offer.objects.count()
    assert plan["n_pending"] == n and len(plan["jobs"]) == -(-n // 5)
    assert OfferEmbedding.objects.count() == n
    run_id = jobs.enqueue_match(
        query_shop="boulevard", index_shop="atelier", features="text", image_spec=None
    ).result
    assert MatchRun.objects.get(pk=run_id).status == MatchRun.Status.DONE


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)  # django-rq enqueues on commit: no outer transaction
def test_encode_and_match_jobs_on_real_redis(imported_cross_shop, specs):
    import django_rq
    from rq import SimpleWorker

    imported_cross_shop(n_products=4, images=False)
    gpu, default = django_rq.get_queue("gpu"), django_rq.get_queue("default")
    gpu.empty()
    default.empty()
    handle = jobs.enqueue_encoding(image_spec=None, text_spec=specs["text_spec"], chunk_size=5)
    assert not handle.ran_inline and handle.job_id
    # SimpleWorker runs jobs in this process, inside the test's database transaction
    SimpleWorker([gpu], connection=gpu.connection).work(burst=True)
    plan_job = gpu.fetch_job(handle.job_id)
    assert plan_job.is_finished, plan_job.latest_result()
    (plan,) = plan_job.return_value()
    assert len(plan["jobs"]) >= 2  # chunks that several workers can share
    chunk_job = gpu.fetch_job(plan["jobs"][0])
    assert chunk_job.is_finished
    assert chunk_job.meta["progress"]["stage"] == "done"
    assert OfferEmbedding.objects.count() == Offer.objects.count()

    match = jobs.enqueue_match(
        query_shop="boulevard", index_shop="atelier", features="text", image_spec=None
    )
    SimpleWorker([default], connection=default.connection).work(burst=True)
    run_id = default.fetch_job(match.job_id).return_value()
    assert Candidate.objects.filter(run_id=run_id).exists()
