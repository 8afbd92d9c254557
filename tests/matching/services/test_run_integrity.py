"""A killed or failing match leaves no partial candidates and no run that looks "running"."""

import datetime as dt
import subprocess
import sys

import pytest
from django.utils import timezone

from matching import selectors
from matching.models import Candidate, MatchRun, Offer, Shop
from matching.services import encoding
from matching.services import matching as matching_service

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _running_run(**fields) -> MatchRun:
    a, _ = Shop.objects.get_or_create(name="a")
    b, _ = Shop.objects.get_or_create(name="b")
    return MatchRun.objects.create(query_shop=a, index_shop=b, features="text", **fields)


def test_run_of_a_dead_process_is_interrupted_and_loses_its_candidates():
    run = _running_run(worker_host=selectors.this_host(), worker_pid=_dead_pid())
    offer = Offer.objects.create(shop=run.query_shop, offer_id="1", title="t", text_normalised="t")
    Candidate.objects.create(  # as a run killed by an older version could have left
        run=run, query_offer=offer, candidate_offer=offer, rank=1, similarity=0.5
    )
    assert selectors.run_is_interrupted(run) and selectors.run_state(run) == "interrupted"
    assert [r.pk for r in selectors.interrupted_runs()] == [run.pk]
    with pytest.raises(selectors.RunNotDone, match="interrupted"):
        selectors.check_run_done(run)

    assert matching_service.fail_stale_runs() == 1
    run.refresh_from_db()
    assert run.status == MatchRun.Status.FAILED and run.error.startswith("interrupted")
    assert not Candidate.objects.filter(run=run).exists()
    assert matching_service.fail_stale_runs() == 0
    with pytest.raises(selectors.RunNotDone, match="failed"):
        selectors.check_run_done(run)


def test_live_runs_and_recent_runs_elsewhere_are_not_touched():
    import os

    here = _running_run(worker_host=selectors.this_host(), worker_pid=os.getpid())
    elsewhere = _running_run(worker_host="other-machine", worker_pid=1)
    assert not selectors.run_is_interrupted(here)
    assert not selectors.run_is_interrupted(elsewhere)
    with pytest.raises(selectors.RunNotDone, match="still running"):
        selectors.check_run_done(here)
    assert matching_service.fail_stale_runs() == 0

    old = timezone.now() - selectors.OTHER_HOST_STALE_AFTER - dt.timedelta(minutes=1)
    MatchRun.objects.filter(pk=elsewhere.pk).update(created_at=old)
    elsewhere.refresh_from_db()
    assert selectors.run_is_interrupted(elsewhere)
    assert matching_service.fail_stale_runs() == 1
    here.refresh_from_db()
    assert here.status == MatchRun.Status.RUNNING


def test_failure_while_writing_candidates_leaves_none_and_a_failed_run(
    imported_cross_shop, specs, monkeypatch
):
    imported_cross_shop(n_products=4, images=False)
    encoding.encode_offers(image_spec=None, text_spec=specs["text_spec"])
    stale = _running_run(worker_host=selectors.this_host(), worker_pid=_dead_pid())
    real_store = matching_service.store_candidates

    def write_half_then_die(*, run_id, rows):
        real_store(run_id=run_id, rows=tuple(column[: len(column) // 2] for column in rows))
        assert Candidate.objects.exists()  # some rows were written ...
        raise RuntimeError("killed while writing candidates")

    monkeypatch.setattr(matching_service, "store_candidates", write_half_then_die)
    with pytest.raises(RuntimeError, match="killed while writing"):
        matching_service.match(
            query_shop="boulevard", index_shop="atelier", features="text", plot=False
        )
    run = MatchRun.objects.exclude(pk=stale.pk).get()
    assert run.status == MatchRun.Status.FAILED
    assert run.error == "RuntimeError: killed while writing candidates"
    assert not Candidate.objects.exists()  # ... and rolled back with the run's final status
    assert run.worker_host == selectors.this_host() and run.worker_pid is not None
    stale.refresh_from_db()
    assert stale.status == MatchRun.Status.FAILED  # the stale check ran at the start

    monkeypatch.undo()
    done = matching_service.match(
        query_shop="boulevard", index_shop="atelier", features="text", plot=False
    )
    assert selectors.check_run_done(done) == done
    assert Candidate.objects.filter(run=done).count() == done.metrics["n_candidates"] > 0
