"""Large exports go through the real `export` queue (Redis) and a worker writes the file."""

import pytest

from demo.synthetic_run import create_synthetic_run
from validation.models import Export, ReviewSettings
from validation.services import export as services
from validation.services.routing import route_run


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_large_export_runs_as_a_job_on_the_export_queue(settings, tmp_path):
    import django_rq
    from rq import SimpleWorker

    settings.FASHIONID_EXPORT_DIR = tmp_path / "exports"
    run = create_synthetic_run(n_queries=30, seed=2)
    route_run(run=run, accept=0.5, review=0.3)
    cfg = ReviewSettings.load()
    cfg.export_inline_max = 0  # force the job path
    cfg.save()
    queue = django_rq.get_queue("export")
    queue.empty()

    export = services.request_export(run=run)
    export.refresh_from_db()
    assert export.status == Export.Status.QUEUED
    assert len(queue.job_ids) == 1

    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    export.refresh_from_db()
    assert export.status == Export.Status.DONE
    assert export.n_rows > 0
    lines = (settings.FASHIONID_EXPORT_DIR / export.path.split("/")[-1]).read_text().splitlines()
    assert lines[0].startswith("query_offer_id,query_shop,matched_offer_id")
    assert len(lines) == export.n_rows + 1
