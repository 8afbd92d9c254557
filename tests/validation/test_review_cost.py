"""The review page costs the same whatever the length of the queue (issue 10, item 1)."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from demo.synthetic_run import create_synthetic_run
from validation.assignment import LeasePolicy
from validation.models import Judgement, ReviewLease, ReviewRow, ReviewSettings
from validation.services import leasing
from validation.services import review as services
from validation.services.routing import route_run

from .conftest import make_user

NO_GOLD = LeasePolicy(gold_rate=0.0)


def judge(user, policy=NO_GOLD) -> ReviewRow:
    lease = leasing.lease_next_row(validator=user, policy=policy)
    assert lease is not None
    services.judge_row(validator=user, lease_id=lease.pk, slot=1)
    return ReviewRow.objects.get(pk=lease.row_id)


# one review GET that hands out a new row, with its counters (the open rows counted, not read
# from the cache); a fixed number whatever the queue
MAX_QUERIES_PER_REVIEW_GET = 18  # + 1 pick statement for the conflict pool, tried first


def _review_get_queries(client: Client) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as q:
        page = client.get("/review/")
    assert page.status_code == 200
    lease = re.search(r'name="lease" value="(\d+)"', page.content.decode())
    assert lease is not None
    return len(q), lease.group(1)


def test_review_get_query_count_is_the_same_for_100_and_2000_open_rows(
    client, cfg, django_assert_max_num_queries
):
    cfg.gold_rate = 0.0  # the gold pool is tried second when the first pool is empty
    cfg.save()
    counts = []
    for n in (100, 2000):
        run = create_synthetic_run(n_queries=n, seed=n)
        route_run(run=run, accept=None, review=0.0)
        n_open = ReviewRow.objects.filter(status="open").count()
        assert n_open >= n
        # history: a few rows judged by this validator (they stay open, waiting for others)
        user = make_user(f"cost{n}")
        for _ in range(3):
            judge(user, policy=NO_GOLD)
        client.force_login(user)
        cache.clear()  # the open rows are counted (not read from the cache) on this GET
        with django_assert_max_num_queries(MAX_QUERIES_PER_REVIEW_GET):
            n_queries, lease_id = _review_get_queries(client)
        row = ReviewLease.objects.get(pk=lease_id).row
        assert not Judgement.objects.filter(row=row, validator=user).exists()
        counts.append(n_queries)
    assert counts[0] == counts[1], counts


def _counts_open_rows(sql: str) -> bool:
    return "COUNT(" in sql and "validation_reviewrow" in sql and "judgement" not in sql


def test_open_rows_counter_is_counted_then_read_from_the_cache(client, run, validators, cfg):
    route_run(run=run, accept=None, review=0.0)
    user = validators[0]
    client.force_login(user)
    cache.clear()
    n_open = ReviewRow.objects.filter(status="open").count()
    with CaptureQueriesContext(connection) as q:
        assert f"{n_open} rows open" in client.get("/review/").content.decode()
    assert sum(_counts_open_rows(x["sql"]) for x in q.captured_queries) == 1
    # a row decided meanwhile shows within OPEN_ROWS_CACHE_SECONDS, not at once
    ReviewRow.objects.filter(pk=ReviewRow.objects.filter(status="open").last().pk).update(
        status="decided"
    )
    with CaptureQueriesContext(connection) as q:
        assert f"{n_open} rows open" in client.get("/review/").content.decode()
    assert not any(_counts_open_rows(x["sql"]) for x in q.captured_queries)
    cache.clear()
    assert f"{n_open - 1} rows open" in client.get("/review/").content.decode()


def test_lease_statement_walks_the_queue_index_in_order(run, validators):
    """The pick is ordered like the partial index (partly judged first, then oldest) and
    skips rows this validator judged and rows already full of live leases."""
    cfg = ReviewSettings.load()
    cfg.early_decision = False  # three judgements per row: room for two live leases
    cfg.save()
    route_run(run=run, accept=None, review=0.0)
    a, b, c, d = validators[:4]
    first = judge(a)  # row 1 judged by a: partly judged, first in the queue for others
    lease_b = leasing.lease_next_row(validator=b, policy=NO_GOLD)
    assert lease_b.row_id == first.pk
    lease_c = leasing.lease_next_row(validator=c, policy=NO_GOLD)
    assert lease_c.row_id == first.pk  # 1 judgement + 1 live lease < 3 needed
    lease_d = leasing.lease_next_row(validator=d, policy=NO_GOLD)
    assert lease_d.row_id != first.pk  # full: 1 judgement + 2 live leases
    oldest_fresh = (
        ReviewRow.objects.filter(status="open", n_judgements=0)
        .exclude(pk__in=[first.pk])
        .order_by("id")
        .first()
    )
    assert lease_d.row_id == oldest_fresh.pk
    # a moves on past the row they judged, to the oldest row with room
    lease_a = leasing.lease_next_row(validator=a, policy=NO_GOLD)
    assert lease_a.row_id == lease_d.row_id  # partly leased rows are not skipped for others


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_plan_uses_the_queue_index():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL plan")
    run = create_synthetic_run(n_queries=1500, seed=5)
    route_run(run=run, accept=None, review=0.0)
    user = make_user("planner")
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    with CaptureQueriesContext(connection) as q:
        lease = leasing.lease_next_row(validator=user, policy=NO_GOLD)
    assert lease is not None
    pick = next(x["sql"] for x in q.captured_queries if "SKIP LOCKED" in x["sql"])
    with connection.cursor() as cur:
        cur.execute("EXPLAIN " + pick)
        plan = "\n".join(r[0] for r in cur.fetchall())
    assert "row_open_queue" in plan, plan
    assert "Sort" not in plan.split("row_open_queue")[0], plan
