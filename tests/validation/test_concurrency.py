"""Assignment under concurrency on PostgreSQL: 24 threads, each with its own connection."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from django.db import connection, connections

from demo.synthetic_run import create_synthetic_run
from validation.assignment import LeasePolicy
from validation.models import Judgement, ReviewLease, ReviewRow, ReviewSettings
from validation.services import leasing
from validation.services import review as services
from validation.services.routing import route_run

from .conftest import make_user

N_THREADS = 24


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_leases_and_judgements():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (SELECT ... FOR UPDATE SKIP LOCKED)")
    run = create_synthetic_run(n_queries=30, seed=3)
    cfg = ReviewSettings.load()
    route_run(run=run, accept=None, review=0.0)
    users = [make_user(f"c{i}") for i in range(N_THREADS)]
    capacity = ReviewRow.objects.filter(run=run).count() * cfg.judgements_per_row
    barrier = threading.Barrier(N_THREADS)
    recorded: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    double_leases: list[int] = []
    lock = threading.Lock()

    def worker(user):
        try:
            barrier.wait()
            policy = LeasePolicy(gold_rate=0.0)
            idle = 0
            while True:
                lease = leasing.lease_next_row(validator=user, policy=policy)
                if lease is None:
                    # rows may be leased to others right now, or need a tie-breaking judgement
                    # later: wait while open rows this validator has not judged remain
                    waiting = (
                        ReviewRow.objects.filter(status="open")
                        .exclude(judgements__validator=user, judgements__undone_at__isnull=True)
                        .exists()
                    )
                    if not waiting or idle > 400:
                        break
                    idle += 1
                    time.sleep(0.02)
                    continue
                n_mine = ReviewLease.objects.filter(validator=user).count()
                if n_mine != 1:
                    double_leases.append(user.pk)
                j = services.judge_row(validator=user, lease_id=lease.pk, slot=(user.pk % 4))
                with lock:
                    recorded.append((j.pk, j.row_id))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert not double_leases
    # no lost judgement
    db = set(Judgement.objects.filter(undone_at__isnull=True).values_list("pk", flat=True))
    assert db == {pk for pk, _ in recorded}
    # no row over-judged, every row judged by distinct validators
    per_row = Counter(r for _, r in recorded)
    for row in ReviewRow.objects.filter(run=run):
        js = Judgement.objects.filter(row=row, undone_at__isnull=True)
        assert js.count() == row.n_judgements == per_row[row.pk] <= row.judgements_needed
        assert js.values("validator").distinct().count() == js.count()
        assert row.status == "decided"
    assert len(recorded) >= capacity
