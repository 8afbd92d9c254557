import pytest
from django.test import override_settings

from core.queues import enqueue, jobs_run_inline, report_progress


def add(a: int, b: int) -> int:
    report_progress(done=1, total=1, stage="adding")
    return a + b


@pytest.mark.sqlite
def test_without_redis_jobs_run_inline(settings):
    assert jobs_run_inline()
    handle = enqueue("default", add, 2, 3)
    assert handle.ran_inline and handle.result == 5


def test_unknown_queue_is_refused():
    with pytest.raises(ValueError, match="unknown queue"):
        enqueue("nope", add, 1, 1)


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_with_redis_jobs_go_to_the_named_queue_and_run_in_a_worker(settings):
    import django_rq
    from rq import SimpleWorker

    queue = django_rq.get_queue("export")
    queue.empty()
    handle = enqueue("export", add, 20, 22)
    assert not handle.ran_inline
    assert queue.job_ids == [handle.job_id]
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    job = queue.fetch_job(handle.job_id)
    assert job.is_finished and job.return_value() == 42
    assert job.meta["progress"] == {"done": 1, "total": 1, "stage": "adding"}


def test_secret_key_is_required_without_debug(monkeypatch):
    import importlib

    from django.core.exceptions import ImproperlyConfigured

    import fashionid_app.settings as module

    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("DEBUG", "0")
    with pytest.raises(ImproperlyConfigured):
        importlib.reload(module)
    monkeypatch.setenv("SECRET_KEY", "x")
    importlib.reload(module)
    assert module.DATABASES["default"]["ENGINE"]


@override_settings()
def test_database_url_selects_the_backend(monkeypatch):
    import importlib

    import fashionid_app.settings as module

    monkeypatch.setenv("SECRET_KEY", "x")
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@127.0.0.1:5432/db")
    importlib.reload(module)
    assert module.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    monkeypatch.delenv("DATABASE_URL")
    importlib.reload(module)
    assert module.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert module.DATABASES["default"]["NAME"].endswith("fashionid.sqlite3")


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_job_enqueued_inside_a_transaction_is_sent_on_commit(settings):
    import django_rq
    from django.db import transaction

    queue = django_rq.get_queue("default")
    queue.empty()
    with transaction.atomic():
        handle = enqueue("default", add, 1, 2)
        assert handle.job_id and queue.job_ids == []  # not before the commit
    assert queue.job_ids == [handle.job_id]


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_sends_no_job(settings):
    import django_rq
    from django.db import transaction

    queue = django_rq.get_queue("default")
    queue.empty()
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue("default", add, 1, 2)
        raise RuntimeError("rollback")
    assert queue.job_ids == []


def double(x: int) -> int:
    return 2 * x


@pytest.mark.sqlite
def test_a_job_can_be_named_by_its_dotted_path(settings):
    handle = enqueue("default", "tests.core.test_queues.double", 21)
    assert handle.ran_inline and handle.result == 42
    with pytest.raises(ImportError):
        enqueue("default", "tests.core.test_queues.no_such_job", 1)


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_job_named_by_its_dotted_path_runs_in_a_worker(settings):
    import django_rq
    from rq import SimpleWorker

    queue = django_rq.get_queue("export")
    queue.empty()
    handle = enqueue("export", "tests.core.test_queues.double", 21)
    assert queue.job_ids == [handle.job_id]
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    assert queue.fetch_job(handle.job_id).return_value() == 42
